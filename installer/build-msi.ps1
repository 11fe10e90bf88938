# Builds pail-<version>-x64.msi on Windows with WiX Toolset 3 (candle/light on PATH).
#   powershell -ExecutionPolicy Bypass -File installer\build-msi.ps1
# Builds pail.exe and pail-app.exe in release mode first. The version comes from Cargo.toml.
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
Push-Location $root
try {
    cargo build --release --locked -p pail-cli -p pail-app
    $version = (Select-String -Path Cargo.toml -Pattern '^version = "(.*)"' | Select-Object -First 1).Matches[0].Groups[1].Value
    $bin = Join-Path $root "target\release"
    if ($env:CARGO_TARGET_DIR) { $bin = Join-Path $env:CARGO_TARGET_DIR "release" }
    $out = Join-Path $root "target\installer"
    New-Item -ItemType Directory -Force -Path $out | Out-Null
    candle -nologo -arch x64 "-dVersion=$version" "-dBinDir=$bin" "-dSourceDir=$PSScriptRoot" `
        -out "$out\pail.wixobj" "$PSScriptRoot\pail.wxs"
    if ($LASTEXITCODE -ne 0) { throw "candle failed" }
    light -nologo -out "$out\pail-$version-x64.msi" "$out\pail.wixobj"
    if ($LASTEXITCODE -ne 0) { throw "light failed" }
    Write-Host "Built $out\pail-$version-x64.msi"
} finally {
    Pop-Location
}
