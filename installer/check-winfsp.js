// Runs inside Windows Installer at install time: stops the installation, with what to install,
// unless WinFsp 2.0 (WinFsp 2023) or later is there. WINFSPDIR comes from WinFsp's registry
// key; the version is that of its DLL (WinFsp 2022.2 is 1.12, WinFsp 2023 is 2.0). A JScript
// action rather than a launch Condition so that wixl (used in CI) and WiX build the same source.
function winFspMajor(dir) {
    if (!dir) {
        return 0;
    }
    try {
        var version = Session.Installer.FileVersion(dir + "bin\\winfsp-x64.dll", false);
        return parseInt(String(version).split(".")[0], 10) || 0;
    } catch (e) {
        return 0;
    }
}

function checkWinFsp() {
    if (winFspMajor(Session.Property("WINFSPDIR")) >= 2) {
        return 1; // ERROR_SUCCESS: go on
    }
    var rec = Session.Installer.CreateRecord(0);
    rec.StringData(0) = "pail needs WinFsp 2.0 (WinFsp 2023) or later to show drives. Install it from https://winfsp.dev/rel/ and run this installer again.";
    Session.Message(0x01000000, rec); // msiMessageTypeError
    return 3; // ERROR_INSTALL_FAILURE: stop
}
