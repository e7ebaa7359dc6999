#!/bin/sh
# tools/install-deps.sh - install the host tools the build and the tests need.
#
#   tools/install-deps.sh                    install whatever is missing
#   tools/install-deps.sh --check-or-install same, quietly when all is there
#
# Debian packages: qemu-system-x86 (QEMU), nasm, grub-pc-bin + grub-common
# (grub-mkrescue and the BIOS modules), xorriso and mtools (used by
# grub-mkrescue), python3 (the test harness), gcc/binutils/make,
# librsvg2-bin (rsvg-convert: the trace row renders the timeline to PNG).
# Installing needs root or sudo; otherwise this prints the command to run.
set -eu

quiet=0
[ "${1:-}" = "--check-or-install" ] && quiet=1

missing=""
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
need qemu-system-x86_64 qemu-system-x86
need nasm nasm
need grub-mkrescue grub-common
need xorriso xorriso
need mformat mtools
need python3 python3
need gcc gcc
need ld binutils
need make make
need rsvg-convert librsvg2-bin
# grub-mkrescue needs the BIOS platform modules, which are a package of their own
[ -d /usr/lib/grub/i386-pc ] || missing="$missing grub-pc-bin"

if [ -z "$missing" ]; then
	[ "$quiet" = 1 ] || echo "install-deps: every tool is installed"
	exit 0
fi

# dedupe
pkgs=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
echo "install-deps: missing packages: $pkgs"

if [ "$(id -u)" = 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "install-deps: cannot install without root. Run:" >&2
	echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends $pkgs" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: no apt-get here; install these with your package manager: $pkgs" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed; trying the install anyway" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $pkgs
echo "install-deps: installed $pkgs"
