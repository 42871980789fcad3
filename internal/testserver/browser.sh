#!/usr/bin/env bash
# Installs Debian's chromium for the status page's browser tests
# (coordhttp/browser_test.go) where it is missing and this user may
# (root with apt-get). Elsewhere it says how, and the browser tests skip
# unless COORD_REQUIRE_BROWSER is set.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
	command -v "$b" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "browser.sh: installing chromium (Debian package) for the status page tests" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && exit 0
	echo "browser.sh: could not install chromium; the browser tests will skip" >&2
	exit 0
fi
echo "browser.sh: no chromium on PATH (Debian: apt-get install chromium); the browser tests will skip" >&2
