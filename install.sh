#!/bin/sh
# Install v4via6 and everything its lab, demo and tests use (Debian/Ubuntu, as root).
set -eu
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (it installs Debian packages): sudo ./install.sh" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
PKGS="iproute2 iputils-ping traceroute procps kmod bird2 frr gobgpd exabgp babeld tcpdump"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    # no daemons are started: the lab starts its own peers inside namespaces
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends $missing
    [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
mkdir -p /etc/iproute2/rt_protos.d
cp contrib/rt_protos.d/v4via6.conf /etc/iproute2/rt_protos.d/v4via6.conf
PIP="python3 -m pip install -q --disable-pip-version-check"
$PIP -e ".[test]" 2>/dev/null || $PIP --break-system-packages -e ".[test]"
echo "install.sh: v4via6 installed: $(command -v v4via6)"
