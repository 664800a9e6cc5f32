#!/usr/bin/env bash
# Builds the test control plane (etcd and kube-apiserver) used by
# internal/testkit/kubetest from the Go module proxy, into a per-version cache dir:
#
#   ${LIBCLUSTER_KUBE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/libcluster-go/kube/<kube>_etcd-<etcd>}
#
# Idempotent: a binary that is already in the cache dir is not rebuilt.
# Needs only Go and access to the module proxy. The first kube-apiserver
# build takes several minutes and about 2 GB of module cache.
#
# Usage: internal/testkit/kubetest/build.sh [--print-dir] [--force]
#   --print-dir  print the cache dir and exit (builds nothing)
#   --force      rebuild even when the binaries exist
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"
: "${KUBE_VERSION:?versions.env must set KUBE_VERSION}"
: "${ETCD_VERSION:?versions.env must set ETCD_VERSION}"

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}
bin_dir=${LIBCLUSTER_KUBE_BIN_DIR:-$cache_root/libcluster-go/kube/${KUBE_VERSION}_etcd-${ETCD_VERSION}}

force=0
for arg in "$@"; do
	case $arg in
	--print-dir) echo "$bin_dir"; exit 0 ;;
	--force) force=1 ;;
	*) echo "build.sh: unknown argument $arg (use --print-dir or --force)" >&2; exit 2 ;;
	esac
done

command -v go >/dev/null || { echo "build.sh: go not found on PATH; install Go first" >&2; exit 1; }
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
export GOWORK=off

mkdir -p "$bin_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/kubetest-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s; }
have() { [[ $force -eq 0 && -x "$bin_dir/$1" ]]; }

# Installs a built binary atomically, so an interrupted build never leaves
# a half-written file that a later run would take for a finished one.
install_bin() {
	local src=$1 name=$2 tmp="$bin_dir/.$2.tmp.$$"
	cp "$src" "$tmp"
	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin_dir/$name"
}

build_etcd() {
	if have etcd; then echo "etcd $ETCD_VERSION: cached in $bin_dir"; return; fi
	local t0 d=$work/etcd
	t0=$(now)
	mkdir -p "$d"
	cat >"$d/go.mod" <<MOD
module kubetest.invalid/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
	cat >"$d/main.go" <<'SRC'
// Command etcd is the etcd server, built from its module for tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
SRC
	(cd "$d" && go mod tidy && go build -trimpath -ldflags='-s -w' -o "$d/etcd" .)
	install_bin "$d/etcd" etcd
	echo "etcd $ETCD_VERSION: built in $(( $(now) - t0 )) s"
}

build_kube_apiserver() {
	if have kube-apiserver; then echo "kube-apiserver $KUBE_VERSION: cached in $bin_dir"; return; fi
	local t0 d=$work/kube staging minor
	t0=$(now)
	mkdir -p "$d"
	# The staging modules (k8s.io/api, k8s.io/client-go, ...) are required
	# as v0.0.0 and replaced by ./staging/... in k8s.io/kubernetes's go.mod;
	# they are published as v0.<minor>.<patch>, so replace each of them with
	# that release.
	minor=${KUBE_VERSION#v1.}
	local gomod
	gomod=$(cd "$d" && GOFLAGS= go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[[ -f $gomod ]] || { echo "build.sh: could not download k8s.io/kubernetes@$KUBE_VERSION from the module proxy" >&2; exit 1; }
	staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._/-]*\) => \./staging/.*#\1#p' "$gomod" | sort -u)
	[[ -n $staging ]] || { echo "build.sh: no staging replacements found in $gomod" >&2; exit 1; }
	{
		echo "module kubetest.invalid/kube"
		echo
		echo "go 1.24"
		echo
		echo "require k8s.io/kubernetes $KUBE_VERSION"
		echo
		echo "replace ("
		for m in $staging; do echo "	$m => $m v0.$minor"; done
		echo ")"
	} >"$d/go.mod"
	echo "kube-apiserver $KUBE_VERSION: $(wc -w <<<"$staging") staging modules replaced by v0.$minor"
	local ld="-s -w"
	local v
	for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=${minor%%.*}"
		ld+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
	done
	(cd "$d" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" &&
		go build -trimpath -ldflags="$ld" -o "$d/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
	install_bin "$d/kube-apiserver" kube-apiserver
	echo "kube-apiserver $KUBE_VERSION: built in $(( $(now) - t0 )) s"
}

start=$(now)
build_etcd
build_kube_apiserver
# Only the first line of etcd's version text; read whole rather than
# through "| head -1", which closes the pipe early: etcd then dies of
# SIGPIPE and pipefail turns that into a failed build (exit 141).
etcd_version=$("$bin_dir/etcd" --version)
echo "${etcd_version%%$'\n'*}"
"$bin_dir/kube-apiserver" --version
echo "binaries in $bin_dir (total $(( $(now) - start )) s)"
