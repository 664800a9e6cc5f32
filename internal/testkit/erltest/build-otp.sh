#!/usr/bin/env bash
# Builds the newer Erlang/OTP release that the interop tests run against
# (besides the distribution's own erl) from Debian's source package, into a
# per-version cache dir:
#
#   ${LIBCLUSTER_OTP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libcluster-go/otp}/<debian-version>
#
# The source comes through apt's ordinary source download with a private apt
# configuration (its own sources file, lists and cache dirs under the cache
# dir), so the machine's apt sources and installed packages are untouched.
# The Debian mirror is the one the machine's own apt sources name (override
# with LIBCLUSTER_DEBIAN_MIRROR). The orig tarball's SHA-256 is checked
# against the signed Sources index before it is unpacked.
#
# Idempotent: a version already built is not rebuilt; when the suites cannot
# be reached, the newest cached build of the major release is used.
#
# Usage: internal/testkit/erltest/build-otp.sh [--print-dir] [--force]
#   --print-dir  print the OTP root to pass as LIBCLUSTER_OTP (builds nothing;
#                fails when no build of the major release is cached)
#   --force      rebuild even when the version is cached
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$here/otp.env"
: "${OTP_MAJOR:?otp.env must set OTP_MAJOR}"
: "${OTP_SUITES:?otp.env must set OTP_SUITES}"

cache=${LIBCLUSTER_OTP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libcluster-go/otp}
force=0 print=0
for arg in "$@"; do
	case $arg in
	--print-dir) print=1 ;;
	--force) force=1 ;;
	*) echo "build-otp.sh: unknown argument $arg (use --print-dir or --force)" >&2; exit 2 ;;
	esac
done

log() { echo "build-otp.sh: $*" >&2; }
now() { date +%s; }

# newest_cached prints the newest complete build of the major release.
newest_cached() {
	local d best=""
	while read -r d; do
		[[ -f $d/.complete ]] && best=$d
	done < <(ls -d "$cache"/"$OTP_MAJOR".* 2>/dev/null | sort -V)
	[[ -n $best ]] && echo "$best"
}

if [[ $print -eq 1 ]]; then
	d=$(newest_cached) || { log "no OTP $OTP_MAJOR build in $cache; run $0 first"; exit 1; }
	echo "$d"
	exit 0
fi

# The machine's Debian mirror: the first deb URI ending in /debian.
mirror=${LIBCLUSTER_DEBIAN_MIRROR:-}
if [[ -z $mirror ]]; then
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' || true)
fi
if [[ -z $mirror ]]; then
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' || true)
fi
[[ -n $mirror ]] || { log "no Debian mirror in the machine's apt sources; set LIBCLUSTER_DEBIAN_MIRROR"; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f $keyring ]] || { log "$keyring missing: apt-get install debian-archive-keyring"; exit 1; }

mkdir -p "$cache"
# apt_for SUITE: runs apt-get/apt-cache with a private configuration for
# one suite's deb-src index.
apt_dir() { echo "$cache/apt/$1"; }
apt_opts() {
	local d
	d=$(apt_dir "$1")
	echo "-o Dir::Etc::SourceList=$d/sources.list -o Dir::Etc::SourceParts=$d/parts.d" \
		"-o Dir::State::Lists=$d/lists -o Dir::Cache=$d/cache -o Dir::State::Status=$d/status" \
		"-o APT::Sandbox::User=root -o Debug::NoLocking=1"
}
prepare_suite() {
	local d
	d=$(apt_dir "$1")
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts.d"
	: >"$d/status"
	echo "deb-src [signed-by=$keyring] $mirror $1 main" >"$d/sources.list"
	# shellcheck disable=SC2046
	apt-get $(apt_opts "$1") -qq update >&2
}

build() { # build VERSION DIR (DIR holds the downloaded source files)
	local ver=$1 src=$2 dest tarball top t0
	dest=$cache/${ver#*:}
	dest=${dest//+/_}
	t0=$(now)
	local tarballs=("$src"/erlang_*.orig.tar.*)
	tarball=${tarballs[0]}
	rm -rf "$dest" "$src/tree"
	mkdir -p "$src/tree"
	tar -xf "$tarball" -C "$src/tree"
	local tops=("$src"/tree/*/)
	top=${tops[0]}
	cd "$top"
	# The Debian repack drops two minified jquery files of common_test, which
	# make install still copies; empty placeholders satisfy it.
	local f
	for f in lib/common_test/priv/jquery-latest.js lib/common_test/priv/tablesorter/jquery.tablesorter.min.js; do
		[[ -e $f ]] || { mkdir -p "$(dirname "$f")"; : >"$f"; }
	done
	log "configuring OTP $ver (no GUI, Java or docs; with crypto and ssl)"
	./configure --prefix="$dest" --disable-dynamic-ssl-lib --without-javac --without-wx \
		--without-observer --without-debugger --without-et --without-jinterface \
		--without-odbc --without-megaco --without-diameter --without-snmp \
		--without-reltool --without-dialyzer --without-typer \
		--without-common_test --without-eunit --without-edoc --without-erl_docgen \
		--without-ftp --without-tftp --without-eldap --without-mnesia --without-os_mon >"$src/configure.log" 2>&1 ||
		{ tail -n 40 "$src/configure.log" >&2; log "configure failed (log above)"; exit 1; }
	log "building OTP $ver with make -j$(nproc) (about 15-20 minutes on 2 cores)"
	make -j"$(nproc)" >"$src/make.log" 2>&1 || { tail -n 60 "$src/make.log" >&2; log "make failed (log above)"; exit 1; }
	make install >"$src/install.log" 2>&1 || { tail -n 40 "$src/install.log" >&2; log "make install failed"; exit 1; }
	[[ -x $dest/bin/erl ]] || { log "no bin/erl in $dest after make install"; exit 1; }
	local rel
	rel=$("$dest/bin/erl" -noshell -eval '{ok, _} = application:ensure_all_started(ssl), io:format("~s~n", [erlang:system_info(otp_release)]), halt().' || true)
	[[ $rel == "$OTP_MAJOR" ]] || { log "the built erl does not run, lacks ssl or is not OTP $OTP_MAJOR (it printed: $rel)"; exit 1; }
	echo "$ver" >"$dest/.complete"
	cd /
	log "OTP $ver built in $(( $(now) - t0 )) s"
	echo "$dest"
}

start=$(now)
work=$(mktemp -d "${TMPDIR:-/tmp}/otp-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
reached=0
for suite in $OTP_SUITES; do
	if ! prepare_suite "$suite"; then
		log "apt update of $suite failed"
		continue
	fi
	reached=1
	# shellcheck disable=SC2046
	ver=$(apt-cache $(apt_opts "$suite") showsrc erlang 2>/dev/null | awk '/^Version:/ { print $2 }' |
		grep -E "^([0-9]+:)?$OTP_MAJOR\." | sort -V | tail -n 1 || true)
	[[ -n $ver ]] || { log "$suite has no erlang $OTP_MAJOR.x source package"; continue; }
	dest=$cache/${ver#*:}
	dest=${dest//+/_}
	if [[ $force -eq 0 && -f $dest/.complete ]]; then
		log "OTP $ver ($suite): cached"
		echo "$dest"
		exit 0
	fi
	dl=$work/$suite
	mkdir -p "$dl"
	# shellcheck disable=SC2046
	if ! (cd "$dl" && apt-get $(apt_opts "$suite") -qq source --download-only "erlang=$ver" >&2); then
		log "download of erlang $ver from $suite failed; trying the next suite"
		continue
	fi
	# Check the orig tarball against the SHA-256 the signed index gives.
	# (No pipeline here ends its reader early: under pipefail the writer's
	# SIGPIPE would end the script with status 141 and no message.)
	tarballs=("$dl"/erlang_*.orig.tar.*)
	[[ -f ${tarballs[0]} ]] || { log "no orig tarball of erlang $ver in the download from $suite"; exit 1; }
	tarball=${tarballs[0]##*/}
	# shellcheck disable=SC2046
	want=$(apt-cache $(apt_opts "$suite") showsrc erlang 2>/dev/null |
		awk -v f="$tarball" -v v="$ver" '/^$/ { ok = 0 } /^Version:/ { ok = ($2 == v) }
			/^Checksums-Sha256:/ { s = 1; next } /^[^ ]/ { s = 0 } ok && s && $3 == f && !done { print $1; done = 1 }' || true)
	got=$(sha256sum "$dl/$tarball" | awk '{ print $1 }')
	if [[ -z $want || $want != "$got" ]]; then
		log "checksum of $tarball does not match the $suite index (index ${want:-none}, file $got)"
		exit 1
	fi
	log "erlang $ver from $suite: $tarball sha256 $got matches the index"
	build "$ver" "$dl"
	log "total $(( $(now) - start )) s"
	exit 0
done
if d=$(newest_cached); then
	log "could not fetch OTP $OTP_MAJOR (suites reached: $reached); using the cached $d"
	echo "$d"
	exit 0
fi
log "no erlang $OTP_MAJOR source package could be fetched from $OTP_SUITES"
exit 1
