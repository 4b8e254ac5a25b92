//! SIGINT and SIGTERM. The first raises the run's [`Signal`]: intake stops and the batches in
//! flight are finished. The second exits at once, leaving claimed files in `processing/` for
//! the next start.

use article_etl::shutdown::Signal;

pub fn spawn_handler(signal: Signal) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        for n in 0.. {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if n == 0 {
                tracing::warn!(
                    "signal received: finishing the batches in flight (again to exit at once)"
                );
                signal.raise();
            } else {
                tracing::error!("second signal: exiting now; claimed files stay in processing/ for the next start");
                std::process::exit(130);
            }
        }
    });
}
