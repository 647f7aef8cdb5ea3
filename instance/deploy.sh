#!/usr/bin/env bash
# greenlight deploy: the script of the "deploy" SSM Command document.
#
# Installs one release of the application on this instance and makes it
# current: download the artifact by bucket, key and version id, verify its
# SHA-256, check every archive member, unpack beside the other releases,
# run the artifact's hooks, switch /opt/<app>/current atomically, restart
# <app>.service, wait for the local health endpoint, prune old releases.
# instance/README.md describes the layout and the artifact convention.
#
# Output: progress and tool output go to stderr; stdout carries exactly
# one line, the outcome, which the workflow shows to the operator.
# Exit status: 0 deployed (or already current), 1 failed with the previous
# release left or put back in place, 2 invalid parameters, 3 artifact
# rejected (checksum, size, unsafe member, missing entry point).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

# SSM Run Command replaces each double-brace placeholder below with the
# parameter's value before this file runs. Every parameter's
# allowedPattern keeps quotes and shell syntax out, so a value stays a
# literal inside its single quotes; check() tests each one again below and
# no value is ever evaluated.
APP='{{ App }}'
RELEASE_ID='{{ ReleaseId }}'
VERSION='{{ Version }}'
BUCKET='{{ Bucket }}'
KEY='{{ Key }}'
VERSION_ID='{{ VersionId }}'
SHA256='{{ Sha256 }}'
HEALTH_PORT='{{ HealthPort }}'
HEALTH_PATH='{{ HealthPath }}'
HEALTH_STATUS='{{ HealthStatus }}'
HEALTH_TIMEOUT='{{ HealthTimeout }}'
KEEP_RELEASES='{{ KeepReleases }}'
MAX_SIZE_MIB='{{ MaxSizeMiB }}'
HOOK_TIMEOUT='{{ HookTimeout }}'
REGION='{{ Region }}'

set -euo pipefail
shopt -s nullglob
umask 022
# Keep the caller's PATH first (tests put stubs there); the agent's own
# environment may lack the sbin directories.
PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Every absolute path is under ROOT, which is empty on an instance and a
# sandbox directory in tests.
ROOT="${GREENLIGHT_ROOT:-}"

# fd 3 is the real stdout, kept for the one outcome line.
exec 3>&1 1>&2
REPORTED=''
log() { printf 'deploy: %s\n' "$*" >&2; }
report() {
	REPORTED=1
	printf '%s\n' "$*" >&3
}
# fail STATUS REASON...: report REASON as the outcome and exit.
fail() {
	local status=$1
	shift
	log "error: $*"
	report "$*"
	exit "$status"
}

# check NAME VALUE PATTERN: the same pattern as the document's
# allowedPattern for NAME (a test keeps the two equal).
check() {
	if [[ ! $2 =~ $3 ]]; then
		fail 2 "invalid parameter $1: it must match $3"
	fi
}
check App "$APP" '^[a-z][a-z0-9-]{0,30}$'
check ReleaseId "$RELEASE_ID" '^[A-Za-z0-9-]{1,80}$'
check Version "$VERSION" '^[A-Za-z0-9._+-]{1,64}$'
check Bucket "$BUCKET" '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'
check Key "$KEY" '^[A-Za-z0-9._/+=,@-]{1,255}$'
check VersionId "$VERSION_ID" '^[A-Za-z0-9._+/=-]{1,255}$'
check Sha256 "$SHA256" '^[0-9a-fA-F]{64}$'
check HealthPort "$HEALTH_PORT" '^[1-9][0-9]{0,4}$'
check HealthPath "$HEALTH_PATH" '^/[A-Za-z0-9._~/%?=&+-]{0,200}$'
check HealthStatus "$HEALTH_STATUS" '^[1-5][0-9][0-9]$'
check HealthTimeout "$HEALTH_TIMEOUT" '^[1-9][0-9]{0,3}$'
check KeepReleases "$KEEP_RELEASES" '^[1-9][0-9]?$'
check MaxSizeMiB "$MAX_SIZE_MIB" '^[1-9][0-9]{0,4}$'
check HookTimeout "$HOOK_TIMEOUT" '^[1-9][0-9]{0,3}$'
check Region "$REGION" '^([a-z]{2}(-[a-z]+)+-[0-9]{1,2})?$'
((HEALTH_PORT <= 65535)) || fail 2 "invalid parameter HealthPort: $HEALTH_PORT is not a port"
SHA256=${SHA256,,}

APP_DIR=$ROOT/opt/$APP
RELEASES=$APP_DIR/releases
CURRENT=$APP_DIR/current
PREVIOUS=$APP_DIR/previous
TARGET=$RELEASES/$RELEASE_ID
STATE=$ROOT/var/lib/greenlight/$APP
# installed/<id> exists once a release is unpacked and its install hook
# passed: "<seq> <sha256> <version>". deployed names the release that last
# passed its health check as current.
INSTALLED=$STATE/installed
DEPLOYED=$STATE/deployed
UNIT=$APP.service
MAX_BYTES=$((MAX_SIZE_MIB * 1024 * 1024))
# More members than this makes the archive suspect (an inode bomb) and
# slow to check.
MAX_ENTRIES=200000

WORK=''       # temporary directory beside the releases, removed on exit
SWITCHED=''   # set once current points at the new release
ROLLBACK_TO='' # the release to put back if this one fails after the switch
PREVIOUS_BEFORE='' # where previous pointed before the switch
REASON=''

# on_exit runs however the script ends: it removes the temporary
# directory, puts the previous release back if the new one was switched
# in and the script did not finish, and makes sure an outcome is printed.
on_exit() {
	local status=$?
	if [[ -n $WORK ]]; then rm -rf -- "$WORK"; fi
	if ((status != 0)) && [[ -n $SWITCHED ]]; then
		roll_back || true
	fi
	if ((status != 0)) && [[ -z $REPORTED ]]; then
		report "deploy of $RELEASE_ID failed unexpectedly (exit status $status); see the command's error output"
	fi
}
trap on_exit EXIT
trap 'exit 143' TERM INT HUP

# link_target LINK: the release id LINK points at, empty if LINK is
# missing or does not point at an existing release directory.
link_target() {
	local t id
	t=$(readlink -- "$1" 2>/dev/null) || return 0
	id=${t##*/}
	if [[ $id =~ ^[A-Za-z0-9-]{1,80}$ && -d $RELEASES/$id ]]; then
		printf '%s\n' "$id"
	fi
}

# point LINK ID: make LINK point at releases/ID atomically: a new symlink
# renamed over the old one, so readers see the old or the new, never none.
point() {
	local tmp=$1.greenlight-new
	ln -sfn -- "releases/$2" "$tmp"
	mv -Tf -- "$tmp" "$1"
}

# discard DIR: remove a release directory without ever leaving a
# half-deleted one under its name.
discard() {
	local trash
	[[ -e $1 ]] || return 0
	trash=$(mktemp -d "$RELEASES/.trash-XXXXXX")
	mv -T -- "$1" "$trash/x"
	rm -rf -- "$trash"
}

# roll_back puts ROLLBACK_TO back as current (or removes current when
# there was none) and restarts the old release.
roll_back() {
	SWITCHED=''
	if [[ -n $ROLLBACK_TO ]]; then
		log "rolling back: current -> releases/$ROLLBACK_TO"
		point "$CURRENT" "$ROLLBACK_TO"
		if [[ -n $PREVIOUS_BEFORE && $PREVIOUS_BEFORE != "$ROLLBACK_TO" ]]; then
			point "$PREVIOUS" "$PREVIOUS_BEFORE"
		else
			rm -f -- "$PREVIOUS"
		fi
		if systemctl restart "$UNIT"; then
			ROLLBACK_NOTE="; $ROLLBACK_TO is current again and was restarted"
		else
			ROLLBACK_NOTE="; $ROLLBACK_TO is current again but restarting $UNIT failed"
		fi
	else
		log "rolling back: no earlier release, removing current"
		rm -f -- "$CURRENT"
		systemctl stop "$UNIT" || true
		ROLLBACK_NOTE="; no earlier release to go back to, $UNIT stopped"
	fi
}
ROLLBACK_NOTE=''

# run_hook NAME: run greenlight/hooks/NAME of the new release, if it has
# one, in the release directory with a clean environment and a timeout.
# It gets neither the outcome descriptor nor the lock, so a process it
# leaves behind cannot hold up the agent or the next deploy.
run_hook() {
	local hook=$TARGET/greenlight/hooks/$1 status=0
	if [[ ! -e $hook && ! -L $hook ]]; then return 0; fi
	if [[ ! -f $hook || ! -x $hook ]]; then
		REASON="hook greenlight/hooks/$1 is not an executable file"
		return 1
	fi
	log "running hook $1 (timeout ${HOOK_TIMEOUT}s)"
	(
		cd -- "$TARGET"
		exec env -i PATH="$PATH" HOME="$ROOT/root" LANG=C.UTF-8 \
			GREENLIGHT_APP="$APP" GREENLIGHT_RELEASE="$RELEASE_ID" \
			GREENLIGHT_VERSION="$VERSION" GREENLIGHT_RELEASE_DIR="$TARGET" \
			timeout -k 10 "$HOOK_TIMEOUT" "$hook"
	) </dev/null 3>&- 9>&- || status=$?
	case $status in
	0) return 0 ;;
	124 | 137) REASON="hook $1 timed out after ${HOOK_TIMEOUT}s" ;;
	*) REASON="hook $1 failed with exit status $status" ;;
	esac
	return 1
}

# wait_healthy polls the local health endpoint once a second until it
# answers HEALTH_STATUS or HEALTH_TIMEOUT seconds have passed. The attempt
# count bounds the loop too, so it ends even where sleep returns at once.
wait_healthy() {
	local url="http://127.0.0.1:$HEALTH_PORT$HEALTH_PATH" code='' n=0
	local deadline=$((SECONDS + HEALTH_TIMEOUT))
	log "waiting up to ${HEALTH_TIMEOUT}s for $url to answer $HEALTH_STATUS"
	while :; do
		n=$((n + 1))
		code=$(curl --silent --noproxy '*' --max-time 2 --output /dev/null --write-out '%{http_code}' "$url" || true)
		if [[ $code == "$HEALTH_STATUS" ]]; then
			log "health check passed after $n attempt(s)"
			return 0
		fi
		if ((n >= HEALTH_TIMEOUT || SECONDS >= deadline)); then break; fi
		sleep 1
	done
	if [[ $code == 000 || -z $code ]]; then
		REASON="health check failed: nothing answered on $url within ${HEALTH_TIMEOUT}s"
	else
		REASON="health check failed: $url answered $code, not $HEALTH_STATUS, within ${HEALTH_TIMEOUT}s"
	fi
	return 1
}

# normalize PATH: set NORM to PATH without "." and empty components;
# fail for an absolute path or one with a ".." component.
normalize() {
	local IFS=/ part
	local -a parts out=()
	[[ $1 != /* ]] || return 1
	read -ra parts <<<"$1"
	for part in "${parts[@]}"; do
		case $part in
		'' | .) ;;
		..) return 1 ;;
		*) out+=("$part") ;;
		esac
	done
	NORM="${out[*]}"
}

# escapes DIR TARGET: a symlink in DIR (relative to the release root)
# pointing at TARGET leaves the release directory.
escapes() {
	local IFS=/ part depth=0
	local -a parts
	[[ $2 != /* ]] || return 0
	read -ra parts <<<"$1/$2"
	for part in "${parts[@]}"; do
		case $part in
		'' | .) ;;
		..)
			depth=$((depth - 1))
			((depth >= 0)) || return 0
			;;
		*) depth=$((depth + 1)) ;;
		esac
	done
	return 1
}

# inspect ARCHIVE: refuse anything but plain files, directories and links
# that stay inside the release, before a byte is unpacked. Sets REASON.
inspect() {
	local list=$WORK/listing line mode type rest shown size name key dir target total=0 p n
	local plain='^"([^"\\]*)"$' symlink='^"([^"\\]*)" -> "([^"\\]*)"$' hardlink='^"([^"\\]*)" link to "([^"\\]*)"$'
	local -A kind=() links=()
	local -a names=() hardtargets=()
	# -P lists names exactly as stored (no stripping of "/" or ".."); C
	# quoting makes every name one unambiguous token.
	if ! LC_ALL=C.UTF-8 tar -tvz -P --numeric-owner --full-time --quoting-style=c -f "$1" >"$list" 2>"$WORK/tar.err"; then
		REASON="artifact rejected: not a readable .tar.gz ($(head -n 1 "$WORK/tar.err"))"
		return 1
	fi
	n=$(wc -l <"$list")
	if ((n > MAX_ENTRIES)); then
		REASON="artifact rejected: $n members, more than $MAX_ENTRIES"
		return 1
	fi
	while IFS= read -r line; do
		mode=${line%% *}
		type=${mode:0:1}
		if [[ $line != *\"* ]]; then
			REASON="artifact rejected: cannot read the listing line: ${line:0:100}"
			return 1
		fi
		rest=\"${line#*\"}
		shown=${rest#\"}
		shown=${shown%%\"*}
		read -r _ _ size _ <<<"$line"
		target=''
		case $type in
		- | d) [[ $rest =~ $plain ]] || {
			REASON="artifact rejected: a member name has quotes, backslashes or control characters: ${rest:0:100}"
			return 1
		} ;;
		l) [[ $rest =~ $symlink ]] || {
			REASON="artifact rejected: a symlink name or target has quotes, backslashes or control characters: ${rest:0:100}"
			return 1
		} ;;
		h) [[ $rest =~ $hardlink ]] || {
			REASON="artifact rejected: a hard link name or target has quotes, backslashes or control characters: ${rest:0:100}"
			return 1
		} ;;
		c | b)
			REASON="artifact rejected: ${shown:0:100} is a device file"
			return 1
			;;
		p)
			REASON="artifact rejected: ${shown:0:100} is a fifo"
			return 1
			;;
		*)
			REASON="artifact rejected: ${shown:0:100} has unsupported type '$type'"
			return 1
			;;
		esac
		name=${BASH_REMATCH[1]}
		target=${BASH_REMATCH[2]:-}
		if ! normalize "$name"; then
			REASON="artifact rejected: member $name is an absolute path or contains '..'"
			return 1
		fi
		name=$NORM
		key=/$name
		if [[ ${mode:3:1} == [sS] || ${mode:6:1} == [sS] ]]; then
			REASON="artifact rejected: $name is setuid or setgid"
			return 1
		fi
		if [[ -z $name && $type != d ]]; then
			REASON="artifact rejected: a non-directory member replaces the release root"
			return 1
		fi
		if [[ -n ${kind[$key]+x} ]] && [[ $type != d || ${kind[$key]} != d ]]; then
			REASON="artifact rejected: $name appears twice"
			return 1
		fi
		kind[$key]=$type
		names+=("$key")
		case $type in
		-)
			if [[ ! $size =~ ^[0-9]+$ ]]; then
				REASON="artifact rejected: cannot read the size of $name"
				return 1
			fi
			total=$((total + size))
			if ((total > MAX_BYTES)); then
				REASON="artifact rejected: its files add up to more than ${MAX_SIZE_MIB} MiB"
				return 1
			fi
			;;
		l)
			dir=''
			if [[ $name == */* ]]; then dir=${name%/*}; fi
			if [[ -z $target ]] || escapes "$dir" "$target"; then
				REASON="artifact rejected: symlink $name -> $target points outside the release"
				return 1
			fi
			links[$key]=1
			;;
		h)
			if ! normalize "$target"; then
				REASON="artifact rejected: hard link $name -> $target points outside the release"
				return 1
			fi
			if [[ ${kind[/$NORM]:-} != - ]]; then
				REASON="artifact rejected: hard link $name -> $target does not link to a file earlier in the archive"
				return 1
			fi
			hardtargets+=("/$NORM")
			;;
		esac
	done <"$list"
	# No member may sit below a symlink of the archive: unpacking it would
	# write wherever the link points. Keys are "/"-prefixed names.
	for key in "${names[@]}" "${hardtargets[@]}"; do
		p=$key
		while [[ $p == /*/* ]]; do
			p=${p%/*}
			if [[ -n ${links[$p]:-} ]]; then
				REASON="artifact rejected: ${key#/} lies below the symlink ${p#/}"
				return 1
			fi
		done
	done
	log "archive checked: ${#names[@]} members, $total bytes of files"
}

# verify_tree DIR: after unpacking, resolve every symlink for real (a chain
# of links can leave the tree even when each looks harmless) and make sure
# nothing but files, directories and symlinks was created.
verify_tree() {
	local top real link odd
	top=$(realpath -- "$1")
	odd=$(find "$1" ! -type f ! -type d ! -type l -print -quit)
	if [[ -n $odd ]]; then
		REASON="artifact rejected: ${odd#"$1"/} is not a file, directory or symlink"
		return 1
	fi
	while IFS= read -r -d '' link; do
		if ! real=$(realpath -m -- "$link" 2>/dev/null) || [[ $real != "$top" && $real != "$top"/* ]]; then
			REASON="artifact rejected: symlink ${link#"$1"/} resolves outside the release"
			return 1
		fi
	done < <(find "$1" -type l -print0)
	if [[ ! -f $1/greenlight/run || ! -x $1/greenlight/run ]]; then
		REASON="artifact rejected: it has no executable greenlight/run, the entry point the service starts"
		return 1
	fi
}

# install downloads, verifies and unpacks the artifact into TARGET, then
# runs its install hook; TARGET exists afterwards only if all of it passed.
install() {
	local art usize csize sum seq=0 s n
	WORK=$(mktemp -d "$RELEASES/.tmp-$RELEASE_ID-XXXXXX")
	art=$WORK/artifact.tar.gz
	local -a region=()
	if [[ -n $REGION ]]; then region=(--region "$REGION"); fi
	log "downloading s3://$BUCKET/$KEY (version $VERSION_ID)"
	if ! aws s3api get-object "${region[@]}" --bucket "$BUCKET" --key "$KEY" --version-id "$VERSION_ID" "$art" >/dev/null; then
		fail 1 "download of s3://$BUCKET/$KEY version $VERSION_ID failed; see the command's error output"
	fi
	csize=$(stat -c %s -- "$art")
	if ((csize > MAX_BYTES)); then
		fail 3 "artifact rejected: $csize bytes, more than the ${MAX_SIZE_MIB} MiB limit"
	fi
	sum=$(sha256sum -- "$art")
	sum=${sum%% *}
	if [[ $sum != "$SHA256" ]]; then
		fail 3 "artifact rejected: checksum mismatch: sha256 is $sum, expected $SHA256"
	fi
	# Count what gzip yields, reading at most one byte past the limit.
	usize=$({ gzip -dc -- "$art" 2>/dev/null || true; } | head -c $((MAX_BYTES + 1)) | wc -c)
	if ((usize > MAX_BYTES)); then
		fail 3 "artifact rejected: it unpacks to more than the ${MAX_SIZE_MIB} MiB limit"
	fi
	inspect "$art" || fail 3 "$REASON"
	mkdir -- "$WORK/tree"
	if ! tar -xzf "$art" -C "$WORK/tree" --no-same-owner --no-same-permissions 2>"$WORK/tar.err"; then
		fail 3 "artifact rejected: unpacking failed: $(head -n 1 "$WORK/tar.err")"
	fi
	verify_tree "$WORK/tree" || fail 3 "$REASON"
	chmod 0755 -- "$WORK/tree"
	mv -T -- "$WORK/tree" "$TARGET"
	rm -rf -- "$WORK"
	WORK=''
	log "unpacked into ${TARGET#"$ROOT"}"
	# The install hook runs in the final directory, so paths it records
	# (virtualenvs, compiled caches) stay valid; until the marker below is
	# written the directory counts as unfinished and a later run replaces it.
	if ! run_hook install; then
		discard "$TARGET"
		fail 1 "$REASON; release $RELEASE_ID removed, current release unchanged"
	fi
	for s in "$INSTALLED"/*; do
		read -r n _ <"$s" || continue
		if [[ $n =~ ^[0-9]+$ ]] && ((n > seq)); then seq=$n; fi
	done
	printf '%s %s %s\n' "$((seq + 1))" "$SHA256" "$VERSION" >"$INSTALLED/.$RELEASE_ID.tmp"
	mv -f -- "$INSTALLED/.$RELEASE_ID.tmp" "$INSTALLED/$RELEASE_ID"
}

# installed_sha ID: the sha256 release ID was installed from, if it was.
installed_sha() {
	local seq sha
	[[ -f $INSTALLED/$1 && -d $RELEASES/$1 ]] || return 0
	read -r seq sha _ <"$INSTALLED/$1" || true
	printf '%s\n' "$sha"
}

# prune keeps the KEEP_RELEASES most recently installed releases, and
# always current and previous; everything else in releases/ goes,
# including directories a crashed run left without a marker.
prune() {
	local cur prev dir id seq order=() keep=()
	local -A keepset=()
	cur=$(link_target "$CURRENT")
	prev=$(link_target "$PREVIOUS")
	for id in "$INSTALLED"/*; do
		read -r seq _ <"$id" || continue
		order+=("$seq ${id##*/}")
	done
	if ((${#order[@]})); then
		mapfile -t keep < <(printf '%s\n' "${order[@]}" | sort -rn | head -n "$KEEP_RELEASES" | cut -d' ' -f2)
	fi
	for id in "${keep[@]}" "$cur" "$prev"; do [[ -z $id ]] || keepset[$id]=1; done
	for dir in "$RELEASES"/*/; do
		dir=${dir%/}
		id=${dir##*/}
		[[ -z ${keepset[$id]:-} ]] || continue
		log "pruning release $id"
		discard "$dir"
		rm -f -- "$INSTALLED/$id"
	done
	for id in "$INSTALLED"/*; do
		[[ -d $RELEASES/${id##*/} ]] || rm -f -- "$id"
	done
}

main() {
	local cur have
	mkdir -p -- "$RELEASES" "$INSTALLED"
	exec 9>"$STATE/lock"
	flock -w 60 9 || fail 1 "another greenlight deploy of $APP is still running"

	cur=$(link_target "$CURRENT")
	if [[ -L $CURRENT && -z $cur ]]; then
		log "warning: ${CURRENT#"$ROOT"} is broken; treating this as a first deploy"
	fi
	if [[ -e $CURRENT && ! -L $CURRENT ]]; then
		fail 1 "${CURRENT#"$ROOT"} is not a symlink; move it away so greenlight can manage it"
	fi
	have=$(installed_sha "$RELEASE_ID")
	if [[ -n $have && $have != "$SHA256" ]]; then
		fail 1 "release $RELEASE_ID is already installed from a different artifact (sha256 $have); use a new release id"
	fi
	if [[ $cur == "$RELEASE_ID" && -n $have && $(cat "$DEPLOYED" 2>/dev/null || true) == "$RELEASE_ID" ]]; then
		report "release $RELEASE_ID ($VERSION) is already current on this instance; nothing to do"
		exit 0
	fi

	# Leftovers of runs that were killed: temporary and trash directories,
	# and a release directory whose install never finished.
	rm -rf -- "$RELEASES"/.tmp-* "$RELEASES"/.trash-* "$APP_DIR"/*.greenlight-new
	if [[ -z $have && -e $TARGET ]]; then
		log "removing unfinished release directory ${TARGET#"$ROOT"}"
		discard "$TARGET"
	fi
	if [[ -z $have ]]; then
		install
	else
		log "release $RELEASE_ID is already installed; reusing it"
	fi

	PREVIOUS_BEFORE=$(link_target "$PREVIOUS")
	if [[ $cur == "$RELEASE_ID" ]]; then
		# An earlier run switched to this release but did not see it
		# healthy: finish that run, falling back to what it replaced.
		ROLLBACK_TO=$(link_target "$PREVIOUS")
	else
		ROLLBACK_TO=$cur
		if [[ -n $cur ]]; then point "$PREVIOUS" "$cur"; fi
		point "$CURRENT" "$RELEASE_ID"
	fi
	SWITCHED=1
	log "current -> releases/$RELEASE_ID"

	if ! run_hook start; then
		roll_back
		fail 1 "$REASON$ROLLBACK_NOTE"
	fi
	if ! systemctl restart "$UNIT"; then
		REASON="systemctl restart $UNIT failed"
		roll_back
		fail 1 "$REASON$ROLLBACK_NOTE"
	fi
	if ! wait_healthy; then
		roll_back
		fail 1 "$REASON$ROLLBACK_NOTE"
	fi
	SWITCHED=''
	printf '%s\n' "$RELEASE_ID" >"$DEPLOYED.tmp"
	mv -f -- "$DEPLOYED.tmp" "$DEPLOYED"
	systemctl enable --quiet "$UNIT" || log "warning: could not enable $UNIT to start at boot"
	prune || log "warning: pruning old releases failed; they stay until the next deploy"
	report "deployed $RELEASE_ID ($VERSION) on $APP: current and healthy"
}

main
