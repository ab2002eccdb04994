#!/usr/bin/env bash
# Debian packages used by the browser (Chromium) and deployment (nginx) tests.
# Installed when missing and when this machine can (root and apt-get); otherwise
# say what is missing and let the tests that need it report it.
set -uo pipefail
packages=(chromium chromium-driver fonts-noto-color-emoji nginx openssl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; browser and deployment tests will fail" >&2
else
  echo "warning: missing Debian packages ${missing[*]} (run as root: apt-get install -y ${missing[*]})" >&2
fi
exit 0
