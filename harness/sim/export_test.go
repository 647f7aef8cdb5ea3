package sim

import "testing"

// RootVolume returns the root volume of an instance, for the external
// tests.
func (r *Region) RootVolume(t *testing.T, instanceID string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.instances[instanceID].devices["/dev/xvda"]
}
