//! `pail-app`: opens the drives window over the user's drives file.

fn main() -> eframe::Result {
    let app = pail_app::App::load(pail_drives::default_path());
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("pail")
            .with_inner_size(pail_app::WINDOW_SIZE),
        ..Default::default()
    };
    eframe::run_native("pail", options, Box::new(|_| Ok(Box::new(app))))
}
