#!/usr/bin/env bash
# Installs, on a Debian machine, what building the workspace needs (samael links libxmlsec1
# and runs bindgen, hence libclang-dev); with --tests, also the real peers the tests drive.
# Packages already installed are not fetched again, so a ready machine needs no network.
set -euo pipefail

packages=(pkg-config libssl-dev ca-certificates libclang-dev libxml2-dev libxmlsec1-dev)
if [ "${1:-}" = "--tests" ]; then
    # xmlsec1: independent signature verifier. Real SAML SPs: Shibboleth SP 3
    # (libapache2-mod-shib, with shibd from shibboleth-sp-utils), mod_auth_mellon
    # (libapache2-mod-auth-mellon, mellon_create_metadata) and pysaml2.
    # Real CAS clients: apache2 + libapache2-mod-auth-cas (also the tests' TLS front, with
    # mod_ssl and mod_proxy), phpCAS (php-cas, run by php-cli's built-in server, over
    # php-curl and php-xml), python-cas (PyPI). A real browser: headless chromium, driven
    # through chromium-driver's chromedriver (WebDriver).
    packages+=(xmlsec1 libapache2-mod-shib shibboleth-sp-utils libapache2-mod-auth-mellon python3-pip
        apache2 libapache2-mod-auth-cas php-cli php-cas php-curl php-xml chromium chromium-driver)
    # redis-server (with redis-cli): the Redis stores' tests start their own throwaway one.
    packages+=(redis-server)
    # slapd (OpenLDAP) and ldap-utils: the LDAP directory's tests start their own throwaway
    # slapd as the current user; the system service is not used (its postinst does not ask
    # questions under DEBIAN_FRONTEND=noninteractive).
    packages+=(slapd ldap-utils)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "build-deps: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--tests" ] && ! python3 -c 'import saml2' 2>/dev/null; then
    echo "build-deps: installing pysaml2"
    python3 -m pip install --quiet pysaml2 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages pysaml2
fi

if [ "${1:-}" = "--tests" ] && ! python3 -c 'import cas' 2>/dev/null; then
    echo "build-deps: installing python-cas"
    python3 -m pip install --quiet python-cas 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages python-cas
fi
