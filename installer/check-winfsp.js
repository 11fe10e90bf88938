// Runs inside Windows Installer when WinFsp was not found (WINFSPDIR is empty): tells the user
// what to install and stops the installation. A JScript action rather than a launch Condition
// so that wixl (used in CI) and WiX build the same source.
function checkWinFsp() {
    var rec = Session.Installer.CreateRecord(0);
    rec.StringData(0) = "pail needs WinFsp to show drives. Install WinFsp 2023 or later from https://winfsp.dev/rel/ and run this installer again.";
    Session.Message(0x01000000, rec); // msiMessageTypeError
    return 3; // ERROR_INSTALL_FAILURE: stop
}
