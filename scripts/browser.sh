#!/usr/bin/env bash
# Provisions the headless browser the Swagger UI test drives: Debian's chromium and
# chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver), installed with apt-get
# when missing (needs root and the Debian package archive, as CI has).
#
# Idempotent and safe to run from several test processes at once (flock): the first
# one installs, the others wait and reuse. Progress goes to stderr; the last line on
# stdout is the chromedriver path.
set -euo pipefail

chromium=/usr/bin/chromium
chromedriver=/usr/bin/chromedriver

if [[ -x $chromium && -x $chromedriver ]]; then
    echo "$chromedriver"
    exit 0
fi

exec 9>/tmp/gatehouse-browser.lock
flock 9
if [[ ! -x $chromium || ! -x $chromedriver ]]; then
    if [[ $(id -u) != 0 ]]; then
        echo "browser: $chromium and $chromedriver are missing; install them as root:" >&2
        echo "  apt-get install -y chromium chromium-driver" >&2
        exit 1
    fi
    echo "browser: installing chromium and chromium-driver" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
    echo "browser: ready" >&2
fi
echo "$chromedriver"
