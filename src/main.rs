use patron::config::Config;
use patron::startup::Application;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("openapi") => match patron::openapi::yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        None | Some("serve") => match serve().await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Some(other) => {
            eprintln!("unknown command {other:?}\nusage: patron [serve|openapi]");
            std::process::ExitCode::from(2)
        }
    }
}

async fn serve() -> Result<(), String> {
    let _log = patron::logging::init();
    let config = Config::from_env()?;
    if config.jwt_secret_generated {
        log::warn!(
            "PATRON_JWT_SECRET is not set: using a random secret; tokens end with this process"
        );
    }
    let bind = config.bind.clone();
    let admin_email = config.admin_email.clone();
    let app = Application::build(config, true).await?;
    let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
    let base = format!("http://{host}:{}", app.port());
    println!("Patron is listening on {base}");
    println!("  Swagger UI: {base}/swagger-ui/");
    match &app.generated_admin {
        Some((email, password)) => {
            println!("  First admin created: {email} / {password}");
            println!("  (printed once; set PATRON_ADMIN_PASSWORD to choose it)");
        }
        None => {
            println!("  Log in with POST {base}/api/v1/auth/token as {admin_email} (or any user)")
        }
    }
    let stopped = app.server().await.map_err(|e| e.to_string());
    if stopped.is_ok() {
        log::info!("Patron stopped");
    }
    stopped
}
