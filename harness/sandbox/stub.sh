#!/usr/bin/env bash
# One stub for every system command the instance scripts call that would
# touch the machine (AWS, systemd, mounts, freezing, HTTP, sleeping). The
# sandbox links each command name to this file; it dispatches on the name
# it was called by, appends the call to $GREENLIGHT_STUB_STATE/calls.log
# and answers from the state files beside it. See harness/sandbox/sandbox.go for
# the layout; nothing here may touch anything outside the state directory
# and the sandbox root.
set -euo pipefail

cmd=${0##*/}
state=${GREENLIGHT_STUB_STATE:?stub $cmd: GREENLIGHT_STUB_STATE is not set; stubs only run in a sandbox}

# One line per call: the command name and each argument, separated by the
# ASCII unit separator, so arguments may hold spaces.
{
	printf '%s' "$cmd"
	printf '\037%s' "$@"
	printf '\n'
} >>"$state/calls.log"

# Injected failures: fail/<cmd> or fail/<cmd>-<first argument> holds the
# exit status to return.
for f in "$state/fail/$cmd" "$state/fail/$cmd-${1:-}"; do
	if [[ -f $f ]]; then
		echo "$cmd: injected failure" >&2
		exit "$(<"$f")"
	fi
done

# has FILE LINE: FILE holds LINE exactly.
has() { [[ -f $1 ]] && grep -qxF -- "$2" "$1"; }
# drop FILE LINE: remove LINE from FILE.
drop() {
	local rest
	rest=$(grep -vxF -- "$2" "$1" || true)
	if [[ -n $rest ]]; then printf '%s\n' "$rest" >"$1"; else : >"$1"; fi
}
# source_of TARGET: the device mounted at TARGET (mounts holds "source<TAB>target").
source_of() {
	local src tgt
	[[ -f $state/mounts ]] || return 1
	while IFS=$'\t' read -r src tgt; do
		if [[ $tgt == "$1" ]]; then
			printf '%s\n' "$src"
			return 0
		fi
	done <"$state/mounts"
	return 1
}

case $cmd in
aws)
	# aws s3api get-object --bucket B --key K --version-id V OUTFILE copies
	# s3/B/V/K to OUTFILE.
	if [[ ${1:-} != s3api || ${2:-} != get-object ]]; then
		echo "aws (stub): only s3api get-object is simulated" >&2
		exit 252
	fi
	shift 2
	bucket='' key='' version='' out=''
	while (($#)); do
		case $1 in
		--bucket) bucket=$2; shift 2 ;;
		--key) key=$2; shift 2 ;;
		--version-id) version=$2; shift 2 ;;
		-*) shift 2 ;;
		*) out=$1; shift ;;
		esac
	done
	obj=$state/s3/$bucket/$version/$key
	if [[ -z $version || ! -f $obj ]]; then
		echo "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist." >&2
		exit 254
	fi
	cp -- "$obj" "$out"
	printf '{"ContentLength": %s, "VersionId": "%s"}\n' "$(stat -c %s -- "$obj")" "$version"
	;;
systemctl)
	# systemd/<unit> holds "active" while the unit runs; systemd/<unit>.release
	# records where the app's current link pointed when it last started.
	verb=${1:-}
	unit=${*: -1}
	mkdir -p "$state/systemd"
	started() {
		local app=${unit%.service}
		echo active >"$state/systemd/$unit"
		readlink -- "${GREENLIGHT_ROOT:-}/opt/$app/current" >"$state/systemd/$unit.release" || : >"$state/systemd/$unit.release"
	}
	case $verb in
	start) [[ $(cat "$state/systemd/$unit" 2>/dev/null) == active ]] || started ;;
	restart) started ;;
	stop) echo inactive >"$state/systemd/$unit" ;;
	is-active)
		s=$(cat "$state/systemd/$unit" 2>/dev/null || echo inactive)
		echo "$s"
		[[ $s == active ]]
		;;
	enable | disable | daemon-reload) ;;
	*)
		echo "systemctl (stub): unknown verb $verb" >&2
		exit 1
		;;
	esac
	;;
curl)
	# Answers with the status code in health; without it the connection
	# is refused (curl prints 000 for -w '%{http_code}' and exits 7).
	want_code=
	for a in "$@"; do [[ $a == *'%{http_code}'* ]] && want_code=1; done
	if [[ -f $state/health ]]; then
		[[ -z $want_code ]] || printf '%s' "$(<"$state/health")"
		exit 0
	fi
	[[ -z $want_code ]] || printf '000'
	exit 7
	;;
mount)
	# mount SOURCE TARGET
	src=${*: -2:1} tgt=${*: -1}
	if source_of "$tgt" >/dev/null; then
		echo "mount: $tgt: $(source_of "$tgt") already mounted on $tgt." >&2
		exit 32
	fi
	if [[ ! -e $src ]]; then
		echo "mount: $tgt: special device $src does not exist." >&2
		exit 32
	fi
	if [[ ! -d $tgt ]]; then
		echo "mount: $tgt: mount point does not exist." >&2
		exit 32
	fi
	printf '%s\t%s\n' "$src" "$tgt" >>"$state/mounts"
	;;
umount)
	tgt=${*: -1}
	if ! src=$(source_of "$tgt"); then
		echo "umount: $tgt: not mounted." >&2
		exit 32
	fi
	if has "$state/frozen" "$tgt"; then
		echo "umount: $tgt: target is busy." >&2
		exit 32
	fi
	drop "$state/mounts" "$src"$'\t'"$tgt"
	;;
mountpoint)
	# mountpoint -q DIR
	source_of "${*: -1}" >/dev/null || exit 32
	;;
findmnt)
	# findmnt -rn -o SOURCE --mountpoint DIR
	source_of "${*: -1}" || exit 1
	;;
fsfreeze)
	op=$1 tgt=$2
	case $op in
	-f)
		if has "$state/frozen" "$tgt"; then
			echo "fsfreeze: $tgt: freeze failed: Device or resource busy" >&2
			exit 1
		fi
		echo "$tgt" >>"$state/frozen"
		;;
	-u)
		if ! has "$state/frozen" "$tgt"; then
			echo "fsfreeze: $tgt: unfreeze failed: Invalid argument" >&2
			exit 1
		fi
		drop "$state/frozen" "$tgt"
		;;
	esac
	;;
sleep | sync | udevadm) ;; # recorded only: sandbox runs never wait
*)
	echo "stub: unknown command $cmd" >&2
	exit 127
	;;
esac
