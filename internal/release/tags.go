package release

// Tag keys greenlight puts on what it creates. Destructive IAM actions are
// conditioned on TagManaged, so only resources carrying it can be
// terminated, stopped, detached or deleted by the steps.
const (
	TagApp         = "greenlight:app"
	TagRelease     = "greenlight:release"
	TagRole        = "greenlight:role" // RoleCandidate, RoleLive, RolePrevious, RoleData
	TagManaged     = "greenlight:managed"
	TagRetireAfter = "greenlight:retire-after" // RFC 3339 time
	TagVersion     = "greenlight:version"
	// TagSlot is a candidate's place in its side (0 to fleet.size-1).
	TagSlot = "greenlight:slot"
	// TagCutover marks an instance whose data a release's cutover may
	// have touched (maintenance page up, writes stopped, data volume
	// moved away), with that release's id: written before the cutover
	// acts, so a rollback finds on the instance itself what to restore.
	TagCutover = "greenlight:cutover"
	// ManagedValue is TagManaged's value.
	ManagedValue = "true"
)

// Values of TagRole.
const (
	RoleCandidate = "candidate"
	RoleLive      = "live"
	RolePrevious  = "previous"
	RoleData      = "data"
	RoleBackup    = "backup"
)
