//! The settings' turn (`db::settings::change_turn`) is waited for holding
//! nothing. Recomputes that waited for it on a blocking thread filled their
//! worker's few blocking threads, and the settings change that got the turn
//! queued its closure for one of them: every database call of that worker
//! hung for good (an outside review).

use std::time::Duration;

use crate::helpers::{run_configured, Backend, TestApp};
use crate::settings::{default_cpr, CPR};

/// One worker: its blocking threads are few (pool ÷ workers + 1).
fn one_worker(config: &mut patron::config::Config) {
    config.workers = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_recomputes_leave_the_settings_change_a_thread_sqlite() {
    run_configured(queued_recomputes, Backend::Sqlite, one_worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_recomputes_leave_the_settings_change_a_thread_postgres() {
    run_configured(queued_recomputes, Backend::Postgres, one_worker).await;
}

async fn queued_recomputes(app: TestApp) {
    let token = app.admin_token().await;
    // Held as a running recompute holds it (the turn is the process's:
    // other tests' changes wait meanwhile, briefly).
    let turn = patron::db::settings::change_turn().await;
    let mut body = default_cpr();
    body["retention_min_purchases"] = serde_json::json!(5);
    let send = |req: reqwest::RequestBuilder| {
        tokio::spawn(async move {
            let r = req.send().await.expect("sent");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    };
    let url = |path: &str| format!("{}{path}", app.address);
    let change = send(app.client.put(url(CPR)).bearer_auth(&token).json(&body));
    // Queued first, then more recomputes than the worker has blocking threads.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let blocking_threads = app.config.pool_size as usize + 1;
    let recomputes: Vec<_> = (0..blocking_threads + 2)
        .map(|i| {
            let path = ["/api/v1/cpr/recompute", "/api/v1/tiers/recompute"][i % 2];
            send(app.client.post(url(path)).bearer_auth(&token))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(turn);
    let within = Duration::from_secs(60);
    let (status, text) = tokio::time::timeout(within, change)
        .await
        .expect("the settings change answers: no hang")
        .expect("the task");
    assert_eq!(status, 200, "{text}");
    for call in recomputes {
        let (status, text) = tokio::time::timeout(within, call)
            .await
            .expect("each recompute answers: no hang")
            .expect("the task");
        assert_eq!(status, 200, "{text}");
    }
    // The worker still answers.
    let r = app.get(CPR, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["retention_min_purchases"], 5, "{}", r.text);
}
