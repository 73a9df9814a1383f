//! What every PNG the project draws needs: a font for plotters' text and an RGB encoder.

/// Where the font is looked for (DejaVu Sans, as Debian and most distributions ship it).
pub const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers DejaVu Sans as plotters' `sans-serif`; an error names what to install.
pub fn register_font() -> Result<(), Box<dyn std::error::Error>> {
    let font = FONT_PATHS
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("no DejaVuSans.ttf found for the plot's text (install fonts-dejavu-core)")?;
    plotters::style::register_font(
        "sans-serif",
        plotters::style::FontStyle::Normal,
        Box::leak(font.into()),
    )
    .map_err(|_| "bad font")?;
    Ok(())
}

/// Writes a `w` × `h` RGB buffer as a PNG at `path`, creating its directory.
pub fn write_png(
    buf: &[u8],
    w: u32,
    h: u32,
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(buf)?;
    Ok(())
}
