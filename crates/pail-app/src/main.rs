//! `pail-app`: opens the drives window over the user's drives file, with the tray icon, and
//! mounts the drives marked "mount at start". `--background` (how start at sign-in runs it)
//! starts with the window minimized.

fn main() -> eframe::Result {
    use tracing_subscriber::prelude::*;
    // The SDK and the HTTP stack never log at TRACE, whatever PAIL_LOG asks (bodies with
    // tokens and secrets).
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::try_from_env("PAIL_LOG").unwrap_or_else(|_| "warn".into()))
        .with(pail_auth::log_caps())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    let background = std::env::args().any(|a| a == pail_app::BACKGROUND_ARG);
    let mut app = pail_app::App::load(pail_drives::default_path());
    app.autostart = pail_app::Autostart::for_this_app();
    let viewport = eframe::egui::ViewportBuilder::default()
        .with_title("pail")
        .with_inner_size(pail_app::WINDOW_SIZE)
        .with_min_inner_size(pail_app::MIN_SIZE);
    // Where the window was when pail last closed.
    let viewport = match pail_app::Placement::load(&pail_app::placement_file(&app.drives_path)) {
        Some(p) => p.apply(viewport),
        None => viewport,
    };
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "pail",
        options,
        Box::new(move |cc| {
            // The system's light or dark theme, followed as it changes; the scale factor is
            // the system's too (eframe takes it from the window).
            cc.egui_ctx.set_theme(eframe::egui::ThemePreference::System);
            // Drives and sign-ins wake the window when they change; idle, it draws nothing.
            let ctx = cc.egui_ctx.clone();
            app.wake = std::sync::Arc::new(move || ctx.request_repaint());
            // The tray lives on the window's event loop thread (Win32 needs that).
            app.attach_tray(&cc.egui_ctx);
            if background {
                cc.egui_ctx
                    .send_viewport_cmd(eframe::egui::ViewportCommand::Minimized(true));
            }
            app.start_marked();
            Ok(Box::new(app))
        }),
    )
}
