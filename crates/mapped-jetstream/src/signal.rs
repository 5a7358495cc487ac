//! Running the async work from synchronous code (the `mapped` binary)
//! until `SIGINT` or `SIGTERM`.

use tokio_util::sync::CancellationToken;

/// Runs `work` on a runtime of its own (two worker threads), with `SIGINT`
/// and `SIGTERM` cancelling the token it is given: the export or replica
/// then finishes what is in flight and returns. The caller needs no
/// runtime of its own.
pub fn run_until_signalled<T>(
    work: impl AsyncFnOnce(CancellationToken) -> T,
) -> std::io::Result<T> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let stop = CancellationToken::new();
        let s = stop.clone();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            s.cancel();
        });
        Ok(work(stop).await)
    })
}
