#!/usr/bin/env bash
# greenlight maintenance: the script of the "maintenance" SSM Command
# document.
#
# Action "on" creates the flag file /var/lib/greenlight/<app>/maintenance;
# nginx, through the greenlight-maintenance.conf snippet, answers every
# request with 503, Retry-After and the maintenance page while it exists.
# "off" removes it. Both are safe to repeat. nginx tests the file on every
# request, so nothing is reloaded.
#
# Output: stdout carries exactly one line, the outcome. Exit status: 0
# done, 1 failed, 2 invalid parameters.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

# SSM Run Command replaces each double-brace placeholder below with the
# parameter's value before this file runs; the allowedPatterns keep quotes
# and shell syntax out and check() tests the values again.
APP='{{ App }}'
ACTION='{{ Action }}'

set -euo pipefail
umask 022
PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT="${GREENLIGHT_ROOT:-}"

exec 3>&1 1>&2
log() { printf 'maintenance: %s\n' "$*" >&2; }
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
check Action "$ACTION" '^(on|off)$'

DIR=$ROOT/var/lib/greenlight/$APP
FLAG=$DIR/maintenance
NGINX=$ROOT/etc/nginx

case $ACTION in
on)
	# A flag nginx never looks at would leave the app open while the
	# workflow believes writes have stopped: refuse instead.
	if ! grep -RqsE --exclude=greenlight-maintenance.conf \
		'^[[:space:]]*include[[:space:]]+[^#]*greenlight-maintenance\.conf' "$NGINX"; then
		fail 1 "maintenance not turned on: no nginx configuration under /etc/nginx includes greenlight-maintenance.conf (see instance/README.md)"
	fi
	if [[ -f $FLAG ]]; then
		report "maintenance mode is already on for $APP"
		exit 0
	fi
	mkdir -p -- "$DIR"
	chmod 0755 -- "$DIR"
	printf 'on since %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$FLAG.tmp"
	chmod 0644 -- "$FLAG.tmp"
	mv -f -- "$FLAG.tmp" "$FLAG"
	log "created $FLAG"
	report "maintenance mode on for $APP: nginx answers 503 with the maintenance page"
	;;
off)
	if [[ ! -e $FLAG ]]; then
		report "maintenance mode is already off for $APP"
		exit 0
	fi
	rm -f -- "$FLAG"
	log "removed $FLAG"
	report "maintenance mode off for $APP: nginx passes requests to the app again"
	;;
esac
