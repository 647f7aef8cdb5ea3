// Package browser holds the tests that drive a real headless Chromium
// (Debian's chromium package, which `make tools` installs) against the
// local engine: what a person sees and clicks, not what a test client
// posts. Their screenshots go under build/screenshots/ for the team to
// look at; they are never committed.
package browser
