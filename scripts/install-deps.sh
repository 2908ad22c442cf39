#!/bin/sh
# Install the Debian 12 packages the build, the tests and the demo need: on a bare Debian 12
# every CLI scenario then runs, none is skipped (groff renders the man pages for t02_docs,
# systemd's systemd-analyze verifies the units of docs/cron.md in t31_prune_cron, util-linux's
# mount makes the tmpfs and bind mounts of t41_crash).
set -eu
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	build-essential pkg-config ca-certificates \
	libarchive-dev libzstd-dev libsodium-dev libsqlite3-dev libyaml-dev \
	libcmocka-dev libjansson-dev libcurl4-openssl-dev libicu-dev \
	sqlite3 zstd tar openssh-client openssh-server curl procps \
	clang libclang-rt-14-dev time \
	groff-base systemd util-linux python3
