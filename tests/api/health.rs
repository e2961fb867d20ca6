use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(healthz_and_readyz_answer, swagger_ui_is_served);

async fn healthz_and_readyz_answer(app: TestApp) {
    let r = app.get("/healthz", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    let r = app.get("/readyz", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ok");
}

async fn swagger_ui_is_served(app: TestApp) {
    let r = app.get("/swagger-ui/", "").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("swagger"), "{}", r.text);
    let r = app.get("/swagger-ui", "").await;
    assert!(matches!(r.status, 301..=308), "{}", r.status);
    let r = app.get("/openapi.json", "").await;
    assert_eq!(r.status, 200);
    assert!(r.body["paths"]["/api/v1/customers"].is_object());
}
