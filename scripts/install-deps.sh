#!/bin/sh
# Install the Debian 12 packages the build, the tests and the demo need.
set -eu
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	build-essential pkg-config ca-certificates \
	libarchive-dev libzstd-dev libsodium-dev libsqlite3-dev libyaml-dev \
	libcmocka-dev libjansson-dev libcurl4-openssl-dev libicu-dev \
	sqlite3 zstd tar openssh-client openssh-server curl procps \
	clang libclang-rt-14-dev time
