#!/usr/bin/env bash
# CI check of the WiX source: builds the MSI on Linux with wixl (Debian package `wixl`) from
# placeholder binaries, then checks the tables a Windows build relies on are in it. Catches
# authoring errors without a Windows machine; the real MSI is built by build-msi.ps1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(awk -F'"' '/^version = /{print $2; exit}' "$here/../Cargo.toml")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/pail.wxs" "$here/check-winfsp.js" "$work/"
mkdir "$work/bin"
echo "placeholder" > "$work/bin/pail.exe"
echo "placeholder" > "$work/bin/pail-app.exe"
cd "$work"
wixl -a x64 -D Version="$version" -D BinDir=bin -D SourceDir=. -o pail.msi pail.wxs
fail() { echo "$1" >&2; exit 1; }
tables="$(msiinfo tables pail.msi)"
for t in File Component Feature Shortcut Registry Upgrade CustomAction Binary AppSearch RegLocator; do
  grep -qx "$t" <<<"$tables" || fail "pail.msi lacks the $t table"
done
# The table is read once into a variable: `msiinfo … | grep -q` under pipefail fails at random
# when grep exits at its first match and msiinfo dies of SIGPIPE writing the rest.
properties="$(msiinfo export pail.msi Property)"
grep -q "ProductVersion	$version" <<<"$properties" \
  || fail "pail.msi does not carry version $version"
grep -q "UpgradeCode	{6F1D2A4B-52C1-4E8B-9A57-3C0E6B2D7A11}" <<<"$properties" \
  || fail "the UpgradeCode changed: upgrades would install side by side"
# Start at sign-in: the argument the app knows, and off unless chosen (level above 1).
registry="$(msiinfo export pail.msi Registry)"
grep -q 'pail-app.exe" --background' <<<"$registry" \
  || fail "the Run entry does not start pail-app with --background"
features="$(msiinfo export pail.msi Feature)"
grep -qP '^AutoStart\t.*\t1000\t' <<<"$features" \
  || fail "start at sign-in must be off by default (AutoStart at level 1000)"
# Upgrade and uninstall: drives are unmounted (after their uploads) before files are replaced.
actions="$(msiinfo export pail.msi CustomAction)"
grep -qP '^StopDrives\t\d+\tPAILEXE\tunmount --all' <<<"$actions" \
  || fail "the installer does not run pail unmount --all"
sequence="$(msiinfo export pail.msi InstallExecuteSequence | tr -d '\r')"
stop="$(awk -F'\t' '$1=="StopDrives"{print $3}' <<<"$sequence")"
remove="$(awk -F'\t' '$1=="RemoveExistingProducts"{print $3}' <<<"$sequence")"
[ -n "$stop" ] && [ "$stop" -lt "$remove" ] \
  || fail "drives must be unmounted before the old version is removed"
echo "pail.msi $version builds from installer/pail.wxs"
