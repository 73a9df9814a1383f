//! Ready-made configurations for the three source systems in `shared/sources/`.

use crate::config::{ClassConfig, Config, RetryPolicy};
use crate::time::Duration;

/// The messaging-account session manager: one exclusive operation per account, monitoring
/// (priority 10, 3600 s), scraping (priority 5, 300 s, at most 5 at once across all accounts),
/// sending (priority 1, 60 s); queue 100 per account, 60 s queue wait, 5 s cancel grace.
///
/// ```
/// let c = baton_kernel::preset::session_manager();
/// assert_eq!(c.classes[1].limit, Some(5));
/// assert!(c.validate().is_ok());
/// ```
pub fn session_manager() -> Config {
    let wait = Duration::from_secs(60);
    let grace = Duration::from_secs(5);
    let mut config = Config::new(vec![
        ClassConfig::exclusive("monitoring", 10)
            .with_queue_timeout(wait)
            .with_run_timeout(Duration::from_secs(3600))
            .with_grace(grace),
        ClassConfig::exclusive("scraping", 5)
            .with_queue_timeout(wait)
            .with_run_timeout(Duration::from_secs(300))
            .with_grace(grace)
            .with_limit(5),
        ClassConfig::exclusive("sending", 1)
            .with_queue_timeout(wait)
            .with_run_timeout(Duration::from_secs(60))
            .with_grace(grace),
    ]);
    config.limits.queue_len_max = 100;
    config.disconnect_grace = grace;
    config
}

/// The cache's async task tracker: background tasks that report progress, kept 300 s after they
/// end and swept every 60 s.
///
/// ```
/// let c = baton_kernel::preset::cache_tracker();
/// assert!(!c.classes[0].exclusive);
/// ```
pub fn cache_tracker() -> Config {
    let mut config = Config::new(vec![
        ClassConfig::background("cache_fill", 5)
            .with_retention(Duration::from_secs(300))
            .with_run_timeout(Duration::from_secs(300)),
    ]);
    config.cleanup_interval = Duration::from_secs(60);
    config
}

/// The background job manager: jobs with priority 1–10 (default 5) and up to 3 retries with
/// exponential backoff (1 s, 2 s, 4 s … capped at 60 s, 10% jitter).
///
/// ```
/// let c = baton_kernel::preset::job_manager();
/// assert_eq!(c.classes[0].retry.max_attempts, 4);
/// ```
pub fn job_manager() -> Config {
    Config::new(vec![
        ClassConfig::background("job", 5)
            .with_retry(RetryPolicy::exponential(
                4,
                Duration::from_secs(1),
                Duration::from_secs(60),
            ))
            .with_queue_timeout(Duration::from_secs(3600)),
    ])
}
