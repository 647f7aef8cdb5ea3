#!/usr/bin/env bash
# greenlight data: the script of the "data" SSM Command document. It moves
# the application's data volume safely, one action per run:
#
#   freeze   stop the app, flush, fsfreeze -f the mount point (for a
#            consistent snapshot)
#   thaw     fsfreeze -u the mount point
#   unmount  stop the app, thaw, umount, forget the volume at boot
#   mount    find the volume by EBS volume id (NVMe) or device name (Xen),
#            mount it, remember it at boot, start the app
#   start    start the app
#
# After a start, with HealthPort given, the script waits until the app's
# health endpoint answers on 127.0.0.1: the check runs on the instance
# because the step functions are not in the app's VPC and cannot reach
# its private address.
#
# Every action is safe to repeat: freezing a frozen filesystem, thawing a
# thawed one, unmounting what is not mounted and mounting what is already
# mounted there all succeed.
#
# Output: stdout carries exactly one line, the outcome. Exit status: 0
# done, 1 failed, 2 invalid parameters.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

# SSM Run Command replaces each double-brace placeholder below with the
# parameter's value before this file runs; the allowedPatterns keep quotes
# and shell syntax out and check() tests the values again.
APP='{{ App }}'
ACTION='{{ Action }}'
VOLUME_ID='{{ VolumeId }}'
DEVICE='{{ Device }}'
MOUNT_POINT='{{ MountPoint }}'
HEALTH_PORT='{{ HealthPort }}'
HEALTH_PATH='{{ HealthPath }}'
HEALTH_STATUS='{{ HealthStatus }}'
HEALTH_TIMEOUT='{{ HealthTimeout }}'

set -euo pipefail
umask 022
PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT="${GREENLIGHT_ROOT:-}"

exec 3>&1 1>&2
log() { printf 'data: %s\n' "$*" >&2; }
report() { printf '%s\n' "$*" >&3; }
fail() {
	local status=$1
	shift
	log "error: $*"
	report "$*"
	exit "$status"
}
check() {
	if [[ ! $2 =~ $3 ]]; then
		fail 2 "invalid parameter $1: it must match $3"
	fi
}
check App "$APP" '^[a-z][a-z0-9-]{0,30}$'
check Action "$ACTION" '^(freeze|thaw|unmount|mount|start)$'
check VolumeId "$VOLUME_ID" '^(vol-[0-9a-f]{8,17})?$'
check Device "$DEVICE" '^(/dev/(sd|xvd)[b-z][a-z]?)?$'
check MountPoint "$MOUNT_POINT" '^(/[A-Za-z0-9._-]+){0,16}$'
check HealthPort "$HEALTH_PORT" '^([1-9][0-9]{0,4})?$'
check HealthPath "$HEALTH_PATH" '^(/[A-Za-z0-9._~/%?=&+-]{0,200})?$'
check HealthStatus "$HEALTH_STATUS" '^[1-5][0-9][0-9]$'
check HealthTimeout "$HEALTH_TIMEOUT" '^[1-9][0-9]{0,3}$'

# need_mount_point: the actions that touch a filesystem need a mount point
# that is neither a system directory nor a path with "." or "..".
need_mount_point() {
	[[ -n $MOUNT_POINT ]] || fail 2 "invalid parameters: action $ACTION needs MountPoint"
	if [[ /$MOUNT_POINT/ == */./* || /$MOUNT_POINT/ == */../* ]]; then
		fail 2 "invalid parameter MountPoint: it must not contain . or .. components"
	fi
	case $MOUNT_POINT in
	/bin | /boot | /dev | /etc | /home | /lib | /lib64 | /opt | /proc | /root | /run | /sbin | /sys | /tmp | /usr | /var | /var/lib | /var/log | /opt/"$APP" | /opt/"$APP"/*)
		fail 2 "invalid parameter MountPoint: $MOUNT_POINT is a system or release directory"
		;;
	esac
}

UNIT=$APP.service
MP=$ROOT$MOUNT_POINT
# Freezing is not visible anywhere cheap to read, so this run-time marker
# (gone after a reboot, as is any freeze) remembers it.
FROZEN=$ROOT/run/greenlight/$APP.frozen
FSTAB=$ROOT/etc/fstab
DROPIN=$ROOT/etc/systemd/system/$UNIT.d/greenlight-data.conf
FSTAB_TAG="# greenlight:$APP data volume (written by greenlight; do not edit)"
# How long to wait for the device node after the attachment (udev).
DEVICE_WAIT=60

# stop_app stops the service; a unit that does not exist is not running.
stop_app() {
	local status=0
	systemctl stop "$UNIT" || status=$?
	# 5: unit not loaded
	if ((status != 0 && status != 5)); then
		fail 1 "systemctl stop $UNIT failed (exit status $status)"
	fi
}

# start_app starts the service when a release is installed; before the
# first deploy there is nothing to start yet.
start_app() {
	if [[ ! -L $ROOT/opt/$APP/current ]]; then
		log "no release of $APP installed yet; not starting $UNIT"
		return 1
	fi
	systemctl start "$UNIT" || fail 1 "systemctl start $UNIT failed"
	[[ -z $HEALTH_PORT ]] || wait_healthy
}

# wait_healthy polls the local health endpoint once a second until it
# answers HEALTH_STATUS, and fails the action after HEALTH_TIMEOUT seconds
# (the attempt count bounds the loop where sleep returns at once).
wait_healthy() {
	local url="http://127.0.0.1:$HEALTH_PORT${HEALTH_PATH:-/}" code='' n=0
	local deadline=$((SECONDS + HEALTH_TIMEOUT))
	while :; do
		n=$((n + 1))
		code=$(curl --silent --noproxy '*' --max-time 2 --output /dev/null --write-out '%{http_code}' "$url" || true)
		if [[ $code == "$HEALTH_STATUS" ]]; then
			log "$url answered $code after $n attempt(s)"
			return 0
		fi
		if ((n >= HEALTH_TIMEOUT || SECONDS >= deadline)); then break; fi
		sleep 1
	done
	if [[ $code == 000 || -z $code ]]; then
		fail 1 "$APP started but nothing answered on $url within ${HEALTH_TIMEOUT}s"
	fi
	fail 1 "$APP started but $url answered $code, not $HEALTH_STATUS, within ${HEALTH_TIMEOUT}s"
}

# freeze_fs and thaw_fs treat "already frozen" (EBUSY) and "not frozen"
# (EINVAL) as done; LC_ALL=C keeps the error text in English.
freeze_fs() {
	local out
	if out=$(LC_ALL=C fsfreeze -f "$MP" 2>&1); then return 0; fi
	if [[ $out == *"Device or resource busy"* ]]; then
		log "$MOUNT_POINT was already frozen"
		return 0
	fi
	fail 1 "fsfreeze -f $MOUNT_POINT failed: $out"
}
thaw_fs() {
	local out
	if out=$(LC_ALL=C fsfreeze -u "$MP" 2>&1); then return 0; fi
	if [[ $out == *"Invalid argument"* ]]; then
		log "$MOUNT_POINT was not frozen"
		return 0
	fi
	fail 1 "fsfreeze -u $MOUNT_POINT failed: $out"
}

# candidates: where the volume's device node may appear. On Nitro
# instances an EBS volume is an NVMe device whose udev by-id name carries
# the volume id; on Xen it keeps the requested name, with sdX shown as
# xvdX (and AL2023's udev rules add sdX links on Nitro too).
candidates() {
	if [[ -n $VOLUME_ID ]]; then
		printf '%s\n' "$ROOT/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${VOLUME_ID/-/}"
	fi
	if [[ -n $DEVICE ]]; then
		printf '%s\n' "$ROOT$DEVICE"
		case $DEVICE in
		/dev/sd*) printf '%s\n' "$ROOT/dev/xvd${DEVICE#/dev/sd}" ;;
		/dev/xvd*) printf '%s\n' "$ROOT/dev/sd${DEVICE#/dev/xvd}" ;;
		esac
	fi
}

# find_device sets SOURCE (the stable name, for fstab) and DEV (the
# device node it resolves to), waiting for udev to create it.
find_device() {
	local c try
	local -a names
	mapfile -t names < <(candidates)
	for ((try = 1; try <= DEVICE_WAIT; try++)); do
		for c in "${names[@]}"; do
			if [[ -e $c ]]; then
				SOURCE=$c
				DEV=$(readlink -f -- "$c")
				return 0
			fi
		done
		((try > 1)) || log "waiting up to ${DEVICE_WAIT}s for the device of ${VOLUME_ID:-$DEVICE}"
		udevadm settle --timeout=1 2>/dev/null || true
		sleep 1
	done
	fail 1 "volume ${VOLUME_ID:-$DEVICE} did not appear on this instance (looked for ${names[*]#"$ROOT"})"
}

# remember and forget keep the mount across reboots: an fstab entry
# (nofail, so a missing volume never blocks boot) and a drop-in that makes
# the app wait for its data.
remember() {
	local tmp=$FSTAB.greenlight-new
	mkdir -p -- "$(dirname -- "$FSTAB")" "$(dirname -- "$DROPIN")"
	touch -- "$FSTAB"
	{
		awk -v tag="$FSTAB_TAG" '$0 == tag { skip = 1; next } skip { skip = 0; next } { print }' "$FSTAB"
		printf '%s\n%s %s auto defaults,nofail 0 2\n' "$FSTAB_TAG" "${SOURCE#"$ROOT"}" "$MOUNT_POINT"
	} >"$tmp"
	chmod 0644 -- "$tmp"
	mv -f -- "$tmp" "$FSTAB"
	printf '[Unit]\nRequiresMountsFor=%s\n' "$MOUNT_POINT" >"$DROPIN.tmp"
	mv -f -- "$DROPIN.tmp" "$DROPIN"
	systemctl daemon-reload || log "warning: systemctl daemon-reload failed"
}
forget() {
	local tmp=$FSTAB.greenlight-new
	if [[ -f $FSTAB ]] && grep -qxF -- "$FSTAB_TAG" "$FSTAB"; then
		awk -v tag="$FSTAB_TAG" '$0 == tag { skip = 1; next } skip { skip = 0; next } { print }' "$FSTAB" >"$tmp"
		chmod 0644 -- "$tmp"
		mv -f -- "$tmp" "$FSTAB"
	fi
	if [[ -e $DROPIN ]]; then
		rm -f -- "$DROPIN"
		systemctl daemon-reload || log "warning: systemctl daemon-reload failed"
	fi
}

case $ACTION in
freeze)
	need_mount_point
	# fsfreeze on a plain directory would freeze the filesystem holding it,
	# the root filesystem most likely.
	mountpoint -q "$MP" || fail 1 "nothing is mounted at $MOUNT_POINT; refusing to freeze the filesystem that holds it"
	stop_app
	if [[ ! -e $FROZEN ]]; then
		# sync would block on a filesystem that is already frozen.
		timeout 300 sync -f "$MP" || log "warning: sync of $MOUNT_POINT did not finish; fsfreeze flushes it anyway"
	fi
	freeze_fs
	mkdir -p -- "$(dirname -- "$FROZEN")"
	: >"$FROZEN"
	report "$APP stopped and $MOUNT_POINT frozen"
	;;
thaw)
	need_mount_point
	if ! mountpoint -q "$MP"; then
		rm -f -- "$FROZEN"
		report "nothing is mounted at $MOUNT_POINT; nothing to thaw"
		exit 0
	fi
	thaw_fs
	rm -f -- "$FROZEN"
	report "$MOUNT_POINT thawed"
	;;
unmount)
	need_mount_point
	stop_app
	if mountpoint -q "$MP"; then
		thaw_fs
		rm -f -- "$FROZEN"
		out=''
		out=$(umount "$MP" 2>&1) || fail 1 "umount $MOUNT_POINT failed: $out"
		forget
		report "$APP stopped and $MOUNT_POINT unmounted"
	else
		rm -f -- "$FROZEN"
		forget
		report "$APP stopped; nothing was mounted at $MOUNT_POINT"
	fi
	;;
mount)
	need_mount_point
	[[ -n $VOLUME_ID || -n $DEVICE ]] || fail 2 "invalid parameters: action mount needs VolumeId or Device"
	SOURCE='' DEV=''
	find_device
	log "volume ${VOLUME_ID:-$DEVICE} is ${DEV#"$ROOT"}"
	if mountpoint -q "$MP"; then
		have=$(findmnt -rn -o SOURCE --mountpoint "$MP" || true)
		if [[ $(readlink -f -- "$have") != "$DEV" ]]; then
			fail 1 "$MOUNT_POINT already has ${have#"$ROOT"} mounted, not ${DEV#"$ROOT"}"
		fi
		log "${DEV#"$ROOT"} is already mounted at $MOUNT_POINT"
	else
		mkdir -p -- "$MP"
		out=''
		out=$(mount "$DEV" "$MP" 2>&1) || fail 1 "mount ${DEV#"$ROOT"} at $MOUNT_POINT failed: $out"
	fi
	remember
	if start_app; then
		report "${VOLUME_ID:-$DEVICE} mounted at $MOUNT_POINT and $APP started${HEALTH_PORT:+ and healthy}"
	else
		report "${VOLUME_ID:-$DEVICE} mounted at $MOUNT_POINT ($APP not installed yet, not started)"
	fi
	;;
start)
	[[ -L $ROOT/opt/$APP/current ]] || fail 1 "no release of $APP is installed; nothing to start"
	start_app
	report "$APP started${HEALTH_PORT:+ and healthy}"
	;;
esac
