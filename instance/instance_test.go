package instance_test

import (
	"github.com/greenlight/greenlight/harness/sandbox"
	"github.com/greenlight/greenlight/instance"
	"github.com/greenlight/greenlight/internal/artifact"

	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every shell script in the package, and the sandbox's stub that stands in
// for the commands they call, passes shellcheck with no finding.
func TestShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Fatal("shellcheck is not installed: `make tools` installs it (Debian package shellcheck)")
	}
	files := []string{filepath.Join("..", "harness", "sandbox", "stub.sh")}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sh") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	out, err := exec.Command("shellcheck", append([]string{"--norc", "--external-sources"}, files...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("shellcheck %v: %v\n%s", files, err, out)
	}
}

func TestDocumentContent(t *testing.T) {
	want := map[string][]string{
		instance.Deploy:      {"App", "ReleaseId", "Version", "Bucket", "Key", "VersionId", "Sha256", "HealthPort", "HealthPath", "HealthTimeout", "KeepReleases", "MaxSizeMiB"},
		instance.Maintenance: {"App", "Action"},
		instance.Data:        {"App", "Action", "VolumeId", "Device", "MountPoint"},
	}
	docs := instance.Documents()
	if len(docs) != len(want) {
		t.Fatalf("%d documents, want %d", len(docs), len(want))
	}
	for _, d := range docs {
		t.Run(d.Name, func(t *testing.T) {
			// Through JSON, as CloudFormation and SSM receive it.
			var c struct {
				SchemaVersion string `json:"schemaVersion"`
				Description   string `json:"description"`
				Parameters    map[string]struct {
					Type           string  `json:"type"`
					AllowedPattern string  `json:"allowedPattern"`
					Default        *string `json:"default"`
				} `json:"parameters"`
				MainSteps []struct {
					Action string `json:"action"`
					Name   string `json:"name"`
					Inputs struct {
						TimeoutSeconds string   `json:"timeoutSeconds"`
						RunCommand     []string `json:"runCommand"`
					} `json:"inputs"`
				} `json:"mainSteps"`
			}
			raw, err := json.Marshal(d.Content())
			if err != nil {
				t.Fatal(err)
			}
			// SSM's quota for a document's content.
			if len(raw) > 64<<10 {
				t.Errorf("content is %d bytes, more than SSM's 64 KB", len(raw))
			}
			if err := json.Unmarshal([]byte(d.ContentJSON()), &c); err != nil {
				t.Fatal(err)
			}
			if c.SchemaVersion != "2.2" || c.Description == "" {
				t.Errorf("schemaVersion %q, description %q", c.SchemaVersion, c.Description)
			}
			if len(c.MainSteps) != 1 || c.MainSteps[0].Action != "aws:runShellScript" || c.MainSteps[0].Inputs.TimeoutSeconds == "" {
				t.Fatalf("mainSteps = %+v, want one aws:runShellScript step with a timeout", c.MainSteps)
			}
			if got := strings.Join(c.MainSteps[0].Inputs.RunCommand, "\n") + "\n"; got != d.Script {
				t.Error("runCommand does not join back into the script")
			}
			if !strings.HasPrefix(d.Script, "#!/usr/bin/env bash\n") {
				t.Error("the script must start with a bash shebang: the agent runs it with sh -c")
			}
			for _, name := range want[d.Name] {
				if _, ok := c.Parameters[name]; !ok {
					t.Errorf("parameter %s missing", name)
				}
			}
			for name, p := range c.Parameters {
				if p.Type != "String" {
					t.Errorf("%s: type %q, want String", name, p.Type)
				}
				re, err := regexp.Compile(p.AllowedPattern)
				if err != nil || !strings.HasPrefix(p.AllowedPattern, "^") || !strings.HasSuffix(p.AllowedPattern, "$") {
					t.Errorf("%s: allowedPattern %q must be an anchored regexp (%v)", name, p.AllowedPattern, err)
					continue
				}
				if p.Default != nil && !re.MatchString(*p.Default) {
					t.Errorf("%s: default %q does not match its own pattern", name, *p.Default)
				}
				// Nothing that could leave a single-quoted assignment.
				for _, bad := range []string{"'", `"`, "\\", "$", "`", " ", "\n", ";", "a'b", "$(id)"} {
					if re.MatchString(bad) || re.MatchString("a"+bad) {
						t.Errorf("%s: allowedPattern admits %q", name, bad)
					}
				}
			}
			if n := instance.DocumentName(app, d.Name); n != d.FullName(app) || n != "greenlight-shop-"+d.Name {
				t.Errorf("name %q", n)
			}
		})
	}
	if d, ok := instance.Lookup(instance.Deploy); !ok || d.Name != instance.Deploy || !strings.Contains(d.Script, "RELEASE_ID='{{ ReleaseId }}'") {
		t.Error("Lookup(Deploy) is not the deploy document")
	}
	if _, ok := instance.Lookup("reboot"); ok {
		t.Error("Lookup found a document that does not exist")
	}
}

// The script checks each value against exactly the document's pattern,
// and every parameter reaches the script exactly once, in a single-quoted
// assignment.
func TestScriptsCheckTheDocumentPatterns(t *testing.T) {
	checkLine := regexp.MustCompile(`(?m)^check (\w+) "\$\w+" '([^']*)'$`)
	assign := regexp.MustCompile(`(?m)^[A-Z_0-9]+='{{ (\w+) }}'$`)
	placeholder := regexp.MustCompile(`{{[^}]*}}`)
	for _, d := range instance.Documents() {
		checks := map[string]string{}
		for _, m := range checkLine.FindAllStringSubmatch(d.Script, -1) {
			checks[m[1]] = m[2]
		}
		assigned := map[string]int{}
		for _, m := range assign.FindAllStringSubmatch(d.Script, -1) {
			assigned[m[1]]++
		}
		if n, m := len(placeholder.FindAllString(d.Script, -1)), len(d.Parameters); n != m {
			t.Errorf("%s: %d placeholders, want one per parameter (%d)", d.Name, n, m)
		}
		for _, p := range d.Parameters {
			if checks[p.Name] != p.AllowedPattern {
				t.Errorf("%s: the script checks %s against %q, the document allows %q", d.Name, p.Name, checks[p.Name], p.AllowedPattern)
			}
			if assigned[p.Name] != 1 {
				t.Errorf("%s: %s is assigned %d times, want once as VAR='{{ %s }}'", d.Name, p.Name, assigned[p.Name], p.Name)
			}
		}
	}
}

func TestRenderLikeTheAgent(t *testing.T) {
	d := instance.Document{
		Name:       "t",
		Parameters: []instance.Parameter{{Name: "App"}, {Name: "Action"}},
		Script:     "#!/usr/bin/env bash\nA='{{ App }}'\nB='{{Action}}' C='{{  App  }}'\nD='{{ Other }}'\n",
	}
	got := d.Render(map[string]string{"App": "shop", "Action": "on"})
	want := "#!/usr/bin/env bash\nA='shop'\nB='on' C='shop'\nD='{{ Other }}'\n"
	if got != want {
		t.Errorf("Render =\n%s\nwant\n%s", got, want)
	}
	res, err := sandbox.Run(context.Background(), sandbox.Spec{Document: instance.Maintenance, Params: map[string]string{"App": app, "Action": "off"}, Sandbox: box(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Script, "\nAPP='shop'\nACTION='off'\n") || strings.Contains(res.Script, "{{") {
		t.Errorf("rendered maintenance script lacks the values:\n%s", res.Script[:600])
	}
}

func TestResolveLikeSendCommand(t *testing.T) {
	d, _ := instance.Lookup(instance.Data)
	got, err := d.Resolve(map[string]string{"App": app, "Action": "start"})
	if err != nil {
		t.Fatal(err)
	}
	if got["VolumeId"] != "" || got["MountPoint"] != "" || len(got) != len(d.Parameters) {
		t.Errorf("defaults not applied: %v", got)
	}
	for name, params := range map[string]map[string]string{
		"unknown":  {"App": app, "Action": "start", "Bogus": "x"},
		"missing":  {"App": app},
		"pattern":  {"App": app, "Action": "reboot"},
		"injected": {"App": "shop';reboot;'", "Action": "start"},
	} {
		var pe *instance.ParameterError
		if _, err := d.Resolve(params); !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a *ParameterError", name, err)
		}
	}
}

// The agent runs the file with sh -c, which honours the shebang; run as
// "sh file" the script still re-executes itself with bash.
func TestScriptReexecsUnderBash(t *testing.T) {
	sb := box(t)
	d, _ := instance.Lookup(instance.Maintenance)
	path := filepath.Join(sb.Dir(), "scripts", "plain.sh")
	writeFile(t, path, d.Render(map[string]string{"App": app, "Action": "off"}))
	cmd := exec.Command("sh", path)
	cmd.Env = sb.Env()
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "already off") {
		t.Errorf("sh %s: %v, output %q", path, err, out)
	}
}

func TestDeploy(t *testing.T) {
	withHook := func(name, body string) []entry {
		return append(good("r2"), dir("greenlight/hooks/"), script("greenlight/hooks/"+name, body))
	}
	cases := []struct {
		name    string
		art     []entry
		corrupt bool // send another artifact's checksum
		change  func(map[string]string)
		before  func(*sandbox.Sandbox)
		exit    int
		reason  string
	}{
		{name: "good release", art: good("r2"), reason: "deployed r2 (1.0.r2) on shop: current and healthy"},
		{name: "checksum mismatch", art: good("r2"), corrupt: true, exit: instance.ExitArtifactRejected, reason: "checksum mismatch"},
		{name: "download fails", art: good("r2"), change: func(p map[string]string) { p[instance.ParamVersionID] = "gone" }, exit: instance.ExitFailed, reason: "download of s3://greenlight-releases/releases/shop-r2.tar.gz version gone failed"},
		{name: "traversal", art: append(good("r2"), file("../x", "escaped")), exit: instance.ExitArtifactRejected, reason: "member ../x is an absolute path or contains '..'"},
		{name: "nested traversal", art: append(good("r2"), file("static/../../x", "escaped")), exit: instance.ExitArtifactRejected, reason: "contains '..'"},
		{name: "absolute path", art: append(good("r2"), file("/etc/cron.d/evil", "* * * * * root sh")), exit: instance.ExitArtifactRejected, reason: "member /etc/cron.d/evil is an absolute path"},
		{name: "escaping symlink", art: append(good("r2"), symlink("data", "../../../etc")), exit: instance.ExitArtifactRejected, reason: "symlink data -> ../../../etc points outside the release"},
		{name: "absolute symlink", art: append(good("r2"), symlink("passwd", "/etc/passwd")), exit: instance.ExitArtifactRejected, reason: "points outside the release"},
		{name: "symlink chain escaping", art: append(good("r2"), dir("a/"), symlink("a/up", ".."), symlink("out", "a/up/..")), exit: instance.ExitArtifactRejected, reason: "symlink out resolves outside the release"},
		{name: "member below a symlink", art: append(good("r2"), symlink("lib", "static"), file("lib/x", "x")), exit: instance.ExitArtifactRejected, reason: "lib/x lies below the symlink lib"},
		{name: "hard link escaping", art: append(good("r2"), hardlink("pw", "../../../../etc/passwd")), exit: instance.ExitArtifactRejected, reason: "hard link pw -> ../../../../etc/passwd points outside the release"},
		{name: "absolute hard link", art: append(good("r2"), hardlink("pw", "/etc/passwd")), exit: instance.ExitArtifactRejected, reason: "points outside the release"},
		{name: "hard link to a non-member", art: append(good("r2"), hardlink("pw", "etc/passwd")), exit: instance.ExitArtifactRejected, reason: "does not link to a file earlier in the archive"},
		{name: "device file", art: append(good("r2"), special("null", tar.TypeChar)), exit: instance.ExitArtifactRejected, reason: "null is a device file"},
		{name: "block device", art: append(good("r2"), special("disk", tar.TypeBlock)), exit: instance.ExitArtifactRejected, reason: "disk is a device file"},
		{name: "fifo", art: append(good("r2"), special("pipe", tar.TypeFifo)), exit: instance.ExitArtifactRejected, reason: "pipe is a fifo"},
		{name: "setuid file", art: append(good("r2"), entry{name: "su", typ: tar.TypeReg, mode: 0o4755, body: "x"}), exit: instance.ExitArtifactRejected, reason: "su is setuid or setgid"},
		{name: "duplicate member", art: append(good("r2"), file("app.txt", "again")), exit: instance.ExitArtifactRejected, reason: "app.txt appears twice"},
		{name: "quote in a name", art: append(good("r2"), file(`a"b`, "x")), exit: instance.ExitArtifactRejected, reason: "quotes, backslashes or control characters"},
		{name: "no entry point", art: []entry{dir("./"), file("app.txt", "x")}, exit: instance.ExitArtifactRejected, reason: "no executable greenlight/run"},
		{name: "not a tarball", exit: instance.ExitArtifactRejected, reason: "not a readable .tar.gz"},
		{name: "oversize compressed", art: append(good("r2"), entry{name: "noise", typ: tar.TypeReg, mode: 0o644, size: 1536 << 10, random: true}), change: func(p map[string]string) { p[instance.ParamMaxSizeMiB] = "1" }, exit: instance.ExitArtifactRejected, reason: "more than the 1 MiB limit"},
		{name: "oversize unpacked", art: append(good("r2"), entry{name: "zeros", typ: tar.TypeReg, mode: 0o644, size: 3 << 20}), change: func(p map[string]string) { p[instance.ParamMaxSizeMiB] = "1" }, exit: instance.ExitArtifactRejected, reason: "unpacks to more than the 1 MiB limit"},
		{name: "install hook runs in the release", art: withHook("install", "#!/bin/sh\nprintf '%s %s' \"$GREENLIGHT_RELEASE\" \"$GREENLIGHT_VERSION\" > hook-ran\n"), reason: "deployed r2"},
		{name: "failing install hook", art: withHook("install", "#!/bin/sh\necho migrating >&2\nexit 3\n"), exit: instance.ExitFailed, reason: "hook install failed with exit status 3; release r2 removed, current release unchanged"},
		{name: "install hook timeout", art: withHook("install", "#!/bin/sh\nexec tail -f /dev/null\n"), change: func(p map[string]string) { p[instance.ParamHookTimeout] = "1" }, exit: instance.ExitFailed, reason: "hook install timed out after 1s"},
		{name: "install hook not executable", art: append(good("r2"), dir("greenlight/hooks/"), file("greenlight/hooks/install", "#!/bin/sh\n")), exit: instance.ExitFailed, reason: "hook greenlight/hooks/install is not an executable file"},
		{name: "failing start hook", art: withHook("start", "#!/bin/sh\nexit 4\n"), exit: instance.ExitFailed, reason: "hook start failed with exit status 4; r1 is current again and was restarted"},
		{name: "restart fails", art: good("r2"), before: func(sb *sandbox.Sandbox) { _ = sb.Fail("systemctl-restart", 1) }, exit: instance.ExitFailed, reason: "systemctl restart shop.service failed; r1 is current again but restarting shop.service failed"},
		{name: "health never ready", art: good("r2"), before: func(sb *sandbox.Sandbox) { _ = sb.SetHealth(0) }, exit: instance.ExitFailed, reason: "health check failed: nothing answered on http://127.0.0.1:8080/healthz within 3s; r1 is current again and was restarted"},
		{name: "health answers the wrong status", art: good("r2"), before: func(sb *sandbox.Sandbox) { _ = sb.SetHealth(503) }, exit: instance.ExitFailed, reason: "answered 503, not 200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := box(t)
			mustDeploy(t, sb, "r1", nil)
			if tc.before != nil {
				tc.before(sb)
			}
			art := []byte("this is not gzip")
			if tc.art != nil {
				art = tarball(t, tc.art...)
			}
			params := deployParams(t, sb, "r2", art, tc.change)
			if tc.corrupt {
				params[instance.ParamSha256] = sha([]byte("another artifact"))
			}
			res := run(t, sb, instance.Deploy, params)
			if res.ExitCode != tc.exit || !strings.Contains(res.Reason(), tc.reason) {
				t.Errorf("exit %d, reason %q; want exit %d and a reason containing %q\nstderr:\n%s", res.ExitCode, res.Reason(), tc.exit, tc.reason, res.Stderr)
			}
			assertClean(t, sb)
			active, started, err := sb.Unit("shop.service")
			if err != nil {
				t.Fatal(err)
			}
			if tc.exit == instance.ExitOK {
				if got := current(t, sb); got != "r2" {
					t.Errorf("current = %q, want r2", got)
				}
				if started != "releases/r2" || !active {
					t.Errorf("service last started %q (active %v), want releases/r2", started, active)
				}
				return
			}
			// Whatever failed, r1 is current and running.
			if got := current(t, sb); got != "r1" {
				t.Errorf("current = %q, want r1 (the previous release)", got)
			}
			if started != "releases/r1" {
				t.Errorf("service last started %q, want releases/r1", started)
			}
			if tc.exit == instance.ExitArtifactRejected && slices.Contains(releases(t, sb), "r2") {
				t.Error("a rejected artifact left releases/r2 behind")
			}
		})
	}
}

func TestDeployDetails(t *testing.T) {
	t.Run("hook sees its release", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		art := tarball(t, append(good("r1"), dir("greenlight/hooks/"), script("greenlight/hooks/install", "#!/bin/sh\nprintf '%s %s' \"$GREENLIGHT_RELEASE\" \"$GREENLIGHT_VERSION\" > hook-ran\n"))...)
		_ = sb.SetHealth(200)
		if res := deploy(t, sb, "r1", art, nil); !res.OK() {
			t.Fatal(res.Reason(), res.Stderr)
		}
		b, err := os.ReadFile(sb.Path("/opt/shop/releases/r1/hook-ran"))
		if err != nil || string(b) != "r1 1.0.r1" {
			t.Errorf("hook output %q, %v", b, err)
		}
		b, err = os.ReadFile(sb.Path("/opt/shop/current/static/app.txt"))
		if err != nil || string(b) != "release r1\n" {
			t.Errorf("static/app.txt through the symlink: %q, %v", b, err)
		}
		want := []string{"aws s3api get-object --region eu-west-1 --bucket greenlight-releases --key releases/shop-r1.tar.gz --version-id vr1.x_Yz /opt/shop/releases/"}
		if got := calls(t, sb, "aws"); len(got) != 1 || !strings.HasPrefix(got[0], want[0]) {
			t.Errorf("aws calls %q, want one starting %q", got, want[0])
		}
		if got := calls(t, sb, "curl"); len(got) != 1 || !strings.HasSuffix(got[0], "http://127.0.0.1:8080/healthz") {
			t.Errorf("curl calls %q", got)
		}
	})

	t.Run("first release never healthy", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		res := deploy(t, sb, "r1", tarball(t, good("r1")...), nil)
		if res.ExitCode != instance.ExitFailed || !strings.HasSuffix(res.Reason(), "no earlier release to go back to, shop.service stopped") {
			t.Errorf("exit %d: %s", res.ExitCode, res.Reason())
		}
		if current(t, sb) != "" {
			t.Error("current left pointing at a release that never became healthy")
		}
		if active, _, _ := sb.Unit("shop.service"); active {
			t.Error("service left running")
		}
		if n := count(t, sb, "curl", "curl"); n != 3 {
			t.Errorf("%d health probes in 3s, want 3", n)
		}
		if n := count(t, sb, "sleep", "sleep 1"); n != 2 {
			t.Errorf("%d sleeps between probes, want 2", n)
		}
		assertClean(t, sb)
	})

	t.Run("rerun of the same release is a no-op", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		mustDeploy(t, sb, "r1", nil)
		before := len(calls(t, sb, "systemctl"))
		res := deploy(t, sb, "r1", tarball(t, good("r1")...), nil)
		if !res.OK() || res.Reason() != "release r1 (1.0.r1) is already current on this instance; nothing to do" {
			t.Errorf("exit %d: %s", res.ExitCode, res.Reason())
		}
		if n := len(calls(t, sb, "aws")); n != 1 {
			t.Errorf("downloaded %d times, want once", n)
		}
		if after := len(calls(t, sb, "systemctl")); after != before {
			t.Errorf("the rerun called systemctl %d more times", after-before)
		}
		assertClean(t, sb)
	})

	t.Run("same release id from another artifact", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		mustDeploy(t, sb, "r1", nil)
		res := deploy(t, sb, "r1", tarball(t, append(good("r1"), file("more", "x"))...), nil)
		if res.ExitCode != instance.ExitFailed || !strings.Contains(res.Reason(), "already installed from a different artifact") {
			t.Errorf("exit %d: %s", res.ExitCode, res.Reason())
		}
		assertClean(t, sb)
	})

	t.Run("redeploy after a failed health check reuses the install", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		mustDeploy(t, sb, "r1", nil)
		_ = sb.SetHealth(0)
		if res := deploy(t, sb, "r2", tarball(t, good("r2")...), nil); res.ExitCode != instance.ExitFailed {
			t.Fatalf("exit %d: %s", res.ExitCode, res.Reason())
		}
		mustDeploy(t, sb, "r2", nil)
		if n := len(calls(t, sb, "aws")); n != 2 {
			t.Errorf("downloaded %d times, want 2 (r2 once)", n)
		}
		if current(t, sb) != "r2" {
			t.Errorf("current = %q", current(t, sb))
		}
		assertClean(t, sb)
	})

	t.Run("a run killed after the switch is finished by the rerun", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		mustDeploy(t, sb, "r1", nil)
		mustDeploy(t, sb, "r2", nil)
		// As if the agent killed the r2 run during its health wait.
		writeFile(t, sb.Path("/var/lib/greenlight/shop/deployed"), "r1\n")
		_ = sb.SetHealth(0)
		res := deploy(t, sb, "r2", tarball(t, good("r2")...), nil)
		if res.ExitCode != instance.ExitFailed || !strings.Contains(res.Reason(), "r1 is current again") {
			t.Errorf("exit %d: %s", res.ExitCode, res.Reason())
		}
		if current(t, sb) != "r1" {
			t.Errorf("current = %q, want r1", current(t, sb))
		}
		assertClean(t, sb)
	})

	t.Run("leftovers of a killed run are cleaned up", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		mustDeploy(t, sb, "r1", nil)
		writeFile(t, sb.Path("/opt/shop/releases/.tmp-r2-abcdef/tree/half"), "x")
		writeFile(t, sb.Path("/opt/shop/releases/r2/half"), "unpacked, install hook never finished")
		mustDeploy(t, sb, "r2", nil)
		if _, err := os.Stat(sb.Path("/opt/shop/releases/r2/half")); !os.IsNotExist(err) {
			t.Error("the unfinished r2 was reused instead of reinstalled")
		}
		assertClean(t, sb)
	})
}

// The local engine's sample release passes the deploy script's checks
// and its install hook runs.
func TestDeployTheSample(t *testing.T) {
	t.Parallel()
	sb := box(t)
	art, err := artifact.Sample(app, "1.0.r1")
	if err != nil {
		t.Fatal(err)
	}
	_ = sb.SetHealth(200)
	res := deploy(t, sb, "r1", art, nil)
	if !res.OK() || !strings.Contains(res.Stderr, "installed shop 1.0.r1\n") {
		t.Fatalf("exit %d: %s\nstderr:\n%s", res.ExitCode, res.Reason(), res.Stderr)
	}
	for _, f := range []string{"VERSION", "APP", "server.js", "greenlight/run"} {
		if _, err := os.Stat(sb.Path("/opt/shop/current/" + f)); err != nil {
			t.Error(err)
		}
	}
	if started, release, _ := sb.Unit("shop.service"); !started || release != "releases/r1" {
		t.Errorf("service active %v, last started %q", started, release)
	}
	assertClean(t, sb)
}

func TestDeployKeepsLastReleases(t *testing.T) {
	for _, tc := range []struct {
		keep string
		want []string
	}{
		{"1", []string{"r4", "r5"}}, // current and previous always stay
		{"2", []string{"r4", "r5"}},
		{"3", []string{"r3", "r4", "r5"}},
	} {
		t.Run("keep "+tc.keep, func(t *testing.T) {
			t.Parallel()
			sb := box(t)
			for _, id := range []string{"r1", "r2", "r3", "r4", "r5"} {
				mustDeploy(t, sb, id, func(p map[string]string) { p[instance.ParamKeepReleases] = tc.keep })
			}
			if got := releases(t, sb); !slices.Equal(got, tc.want) {
				t.Errorf("releases = %v, want %v", got, tc.want)
			}
			prev, _ := os.Readlink(sb.Path("/opt/shop/previous"))
			if current(t, sb) != "r5" || prev != "releases/r4" {
				t.Errorf("current %q, previous %q", current(t, sb), prev)
			}
			assertClean(t, sb)
		})
	}
}

func TestMaintenance(t *testing.T) {
	sb := box(t)
	flag := sb.Path("/var/lib/greenlight/shop/maintenance")
	do := func(action string) sandbox.Result {
		return run(t, sb, instance.Maintenance, map[string]string{instance.ParamApp: app, instance.ParamAction: action})
	}
	if res := do("on"); res.ExitCode != instance.ExitFailed || !strings.Contains(res.Reason(), "includes greenlight-maintenance.conf") {
		t.Errorf("on without the nginx snippet: exit %d: %s", res.ExitCode, res.Reason())
	}
	if _, err := os.Stat(flag); !os.IsNotExist(err) {
		t.Error("flag created although nginx would ignore it")
	}
	writeFile(t, sb.Path("/etc/nginx/sites-enabled/shop"), "server {\n    set $greenlight_app shop;\n    include greenlight-maintenance.conf;\n}\n")
	for i, step := range []struct{ action, reason string }{
		{"on", "maintenance mode on for shop"},
		{"on", "maintenance mode is already on for shop"},
		{"off", "maintenance mode off for shop"},
		{"off", "maintenance mode is already off for shop"},
		{"on", "maintenance mode on for shop"},
	} {
		res := do(step.action)
		if !res.OK() || !strings.HasPrefix(res.Reason(), step.reason) {
			t.Errorf("step %d (%s): exit %d: %s", i, step.action, res.ExitCode, res.Reason())
		}
		_, err := os.Stat(flag)
		if on := err == nil; on != (step.action == "on") {
			t.Errorf("step %d (%s): flag present = %v", i, step.action, on)
		}
	}
}

func TestData(t *testing.T) {
	const vol = "vol-0123456789abcdef0"
	data := func(t *testing.T, sb *sandbox.Sandbox, action string, extra map[string]string) sandbox.Result {
		t.Helper()
		p := map[string]string{instance.ParamApp: app, instance.ParamAction: action, instance.ParamMountPoint: "/var/lib/shop"}
		for k, v := range extra {
			p[k] = v
		}
		return run(t, sb, instance.Data, p)
	}
	installed := func(t *testing.T) *sandbox.Sandbox {
		sb := box(t)
		mustDeploy(t, sb, "r1", nil)
		return sb
	}
	expect := func(t *testing.T, res sandbox.Result, exit int, reason string) {
		t.Helper()
		if res.ExitCode != exit || !strings.Contains(res.Reason(), reason) {
			t.Errorf("exit %d, reason %q; want exit %d, reason containing %q\nstderr:\n%s", res.ExitCode, res.Reason(), exit, reason, res.Stderr)
		}
	}
	mounts := func(t *testing.T, sb *sandbox.Sandbox) map[string]string {
		t.Helper()
		m, err := sb.Mounts()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("mount by volume id on nitro", func(t *testing.T) {
		t.Parallel()
		sb := installed(t)
		if err := sb.AttachNVMe(vol, "nvme1n1"); err != nil {
			t.Fatal(err)
		}
		_ = sb.AttachXen("/dev/sdf") // another name that must not win over the volume id
		for range 2 {
			expect(t, data(t, sb, "mount", map[string]string{instance.ParamVolumeID: vol, instance.ParamDevice: "/dev/sdf"}), instance.ExitOK, vol+" mounted at /var/lib/shop and shop started")
		}
		if got := mounts(t, sb); len(got) != 1 || got["/var/lib/shop"] != "/dev/nvme1n1" {
			t.Errorf("mounts = %v", got)
		}
		if n := count(t, sb, "mount", "mount /dev/nvme1n1 /var/lib/shop"); n != 1 {
			t.Errorf("mounted %d times, want once", n)
		}
		fstab, _ := os.ReadFile(sb.Path("/etc/fstab"))
		if want := "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0 /var/lib/shop auto defaults,nofail 0 2"; strings.Count(string(fstab), want) != 1 {
			t.Errorf("fstab:\n%s\nwant one line %q", fstab, want)
		}
		if b, _ := os.ReadFile(sb.Path("/etc/systemd/system/shop.service.d/greenlight-data.conf")); !strings.Contains(string(b), "RequiresMountsFor=/var/lib/shop") {
			t.Errorf("drop-in: %q", b)
		}
		if active, _, _ := sb.Unit("shop.service"); !active {
			t.Error("app not started")
		}
	})

	t.Run("mount falls back to the xen device name", func(t *testing.T) {
		t.Parallel()
		sb := installed(t)
		writeFile(t, sb.Path("/etc/fstab"), "UUID=abc / xfs defaults 0 0\n")
		_ = sb.AttachXen("/dev/xvdf")
		expect(t, data(t, sb, "mount", map[string]string{instance.ParamVolumeID: vol, instance.ParamDevice: "/dev/sdf"}), instance.ExitOK, "mounted at /var/lib/shop")
		if got := mounts(t, sb)["/var/lib/shop"]; got != "/dev/xvdf" {
			t.Errorf("mounted %q, want /dev/xvdf", got)
		}
		expect(t, data(t, sb, "unmount", nil), instance.ExitOK, "shop stopped and /var/lib/shop unmounted")
		if fstab, _ := os.ReadFile(sb.Path("/etc/fstab")); string(fstab) != "UUID=abc / xfs defaults 0 0\n" {
			t.Errorf("fstab after unmount:\n%s", fstab)
		}
	})

	t.Run("mount waits until the app answers on the instance", func(t *testing.T) {
		t.Parallel()
		sb := installed(t)
		_ = sb.AttachNVMe(vol, "nvme1n1")
		health := map[string]string{instance.ParamVolumeID: vol, instance.ParamHealthPort: "8080", instance.ParamHealthPath: "/healthz", instance.ParamHealthTimeout: "3"}
		probes := func() int {
			n := 0
			for _, c := range calls(t, sb, "curl") {
				if strings.HasSuffix(c, " http://127.0.0.1:8080/healthz") {
					n++
				}
			}
			return n
		}
		before := probes()
		expect(t, data(t, sb, "mount", health), instance.ExitOK, vol+" mounted at /var/lib/shop and shop started and healthy")
		if n := probes() - before; n != 1 {
			t.Errorf("%d health requests to localhost, want 1", n)
		}
		_ = sb.SetHealth(0)
		expect(t, data(t, sb, "start", health), instance.ExitFailed, "shop started but nothing answered on http://127.0.0.1:8080/healthz within 3s")
		_ = sb.SetHealth(503)
		expect(t, data(t, sb, "start", health), instance.ExitFailed, "answered 503, not 200")
	})

	t.Run("volume that never appears", func(t *testing.T) {
		t.Parallel()
		sb := installed(t)
		expect(t, data(t, sb, "mount", map[string]string{instance.ParamVolumeID: vol, instance.ParamDevice: "/dev/sdf"}), instance.ExitFailed, "volume "+vol+" did not appear on this instance")
		if n := count(t, sb, "sleep", "sleep"); n != 60 {
			t.Errorf("%d one-second waits, want 60", n)
		}
		if len(mounts(t, sb)) != 0 {
			t.Error("something got mounted")
		}
	})

	t.Run("mount point holds another device", func(t *testing.T) {
		t.Parallel()
		sb := installed(t)
		_ = sb.AttachNVMe(vol, "nvme1n1")
		_ = sb.AttachNVMe("vol-0fedcba9876543210", "nvme2n1")
		expect(t, data(t, sb, "mount", map[string]string{instance.ParamVolumeID: "vol-0fedcba9876543210"}), instance.ExitOK, "mounted")
		expect(t, data(t, sb, "mount", map[string]string{instance.ParamVolumeID: vol}), instance.ExitFailed, "/var/lib/shop already has /dev/nvme2n1 mounted, not /dev/nvme1n1")
	})

	t.Run("mount before the first release", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		_ = sb.AttachNVMe(vol, "nvme1n1")
		expect(t, data(t, sb, "mount", map[string]string{instance.ParamVolumeID: vol}), instance.ExitOK, "shop not installed yet, not started")
		expect(t, data(t, sb, "start", nil), instance.ExitFailed, "no release of shop is installed")
	})

	t.Run("freeze thaw unmount are idempotent", func(t *testing.T) {
		t.Parallel()
		sb := installed(t)
		_ = sb.AttachNVMe(vol, "nvme1n1")
		expect(t, data(t, sb, "thaw", nil), instance.ExitOK, "nothing is mounted at /var/lib/shop; nothing to thaw")
		expect(t, data(t, sb, "freeze", nil), instance.ExitFailed, "nothing is mounted at /var/lib/shop; refusing to freeze")
		expect(t, data(t, sb, "mount", map[string]string{instance.ParamVolumeID: vol}), instance.ExitOK, "mounted")
		frozen := func() bool {
			f, err := sb.Frozen("/var/lib/shop")
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		for range 2 {
			expect(t, data(t, sb, "freeze", nil), instance.ExitOK, "shop stopped and /var/lib/shop frozen")
			if !frozen() {
				t.Error("not frozen")
			}
			if active, _, _ := sb.Unit("shop.service"); active {
				t.Error("app still running while frozen")
			}
		}
		if n := count(t, sb, "sync", "sync -f /var/lib/shop"); n != 1 {
			t.Errorf("synced %d times, want once (never on a frozen filesystem)", n)
		}
		for range 2 {
			expect(t, data(t, sb, "thaw", nil), instance.ExitOK, "/var/lib/shop thawed")
			if frozen() {
				t.Error("still frozen")
			}
		}
		expect(t, data(t, sb, "freeze", nil), instance.ExitOK, "frozen")
		// Unmount thaws first: a frozen filesystem cannot be unmounted.
		expect(t, data(t, sb, "unmount", nil), instance.ExitOK, "shop stopped and /var/lib/shop unmounted")
		expect(t, data(t, sb, "unmount", nil), instance.ExitOK, "shop stopped; nothing was mounted at /var/lib/shop")
		if len(mounts(t, sb)) != 0 || frozen() {
			t.Error("still mounted or frozen")
		}
		expect(t, data(t, sb, "start", nil), instance.ExitOK, "shop started")
		if active, started, _ := sb.Unit("shop.service"); !active || started != "releases/r1" {
			t.Errorf("service active %v, started %q", active, started)
		}
		assertClean(t, sb)
	})
}

func TestBadParameters(t *testing.T) {
	deployOK := func() map[string]string {
		return map[string]string{
			instance.ParamApp: app, instance.ParamReleaseID: "r1", instance.ParamVersion: "1.0.0", instance.ParamBucket: "greenlight-releases",
			instance.ParamKey: "releases/shop-1.0.0.tar.gz", instance.ParamVersionID: "abc", instance.ParamSha256: strings.Repeat("a", 64),
			instance.ParamHealthPort: "8080", instance.ParamHealthPath: "/healthz", instance.ParamHealthTimeout: "3", instance.ParamKeepReleases: "5",
		}
	}
	cases := []struct {
		doc, param, value string
	}{
		{instance.Deploy, instance.ParamApp, "shop;reboot"},
		{instance.Deploy, instance.ParamApp, "shop'$(reboot)'"},
		{instance.Deploy, instance.ParamReleaseID, "../x"},
		{instance.Deploy, instance.ParamSha256, "abc"},
		{instance.Deploy, instance.ParamHealthPath, "/x y"},
		{instance.Deploy, instance.ParamKey, "releases/a b.tar.gz"},
		{instance.Deploy, instance.ParamHealthTimeout, "08"},
		{instance.Maintenance, instance.ParamApp, "shop;reboot"},
		{instance.Maintenance, instance.ParamAction, "maybe"},
		{instance.Data, instance.ParamApp, "Shop"},
		{instance.Data, instance.ParamAction, "format"},
		{instance.Data, instance.ParamMountPoint, "/var/lib/shop;reboot"},
		{instance.Data, instance.ParamDevice, "/dev/sda"},
	}
	for _, tc := range cases {
		t.Run(tc.doc+" "+tc.param+" "+tc.value, func(t *testing.T) {
			t.Parallel()
			params := map[string]string{instance.ParamApp: app, instance.ParamAction: "on"}
			switch tc.doc {
			case instance.Deploy:
				params = deployOK()
			case instance.Data:
				params = map[string]string{instance.ParamApp: app, instance.ParamAction: "start", instance.ParamMountPoint: "/var/lib/shop"}
			}
			params[tc.param] = tc.value
			sb := box(t)
			// SSM refuses the command before it reaches the instance...
			var pe *instance.ParameterError
			if _, err := sandbox.Run(context.Background(), sandbox.Spec{Document: tc.doc, Params: params, Sandbox: sb}); !errors.As(err, &pe) || pe.Parameter != tc.param {
				t.Errorf("Run: err = %v, want a *ParameterError for %s", err, tc.param)
			}
			// ...and the script refuses it too, before touching anything.
			if strings.ContainsAny(tc.value, "'") {
				return // would break out of the quotes: only SSM's check can stop it
			}
			res, err := sandbox.Run(context.Background(), sandbox.Spec{Document: tc.doc, Params: params, Sandbox: sb, Unchecked: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != instance.ExitInvalidParameters || !strings.HasPrefix(res.Reason(), "invalid parameter "+tc.param+":") {
				t.Errorf("exit %d: %s", res.ExitCode, res.Reason())
			}
			if c, _ := sb.Calls(); len(c) != 0 {
				t.Errorf("the script ran commands: %v", c)
			}
			ents, _ := os.ReadDir(sb.Root())
			if len(ents) != 0 {
				t.Errorf("the script created %v", ents)
			}
		})
	}
	t.Run("data mount point is a system directory", func(t *testing.T) {
		t.Parallel()
		sb := box(t)
		res := run(t, sb, instance.Data, map[string]string{instance.ParamApp: app, instance.ParamAction: "unmount", instance.ParamMountPoint: "/usr"})
		if res.ExitCode != instance.ExitInvalidParameters || !strings.Contains(res.Reason(), "system or release directory") {
			t.Errorf("exit %d: %s", res.ExitCode, res.Reason())
		}
	})
}

func TestRunTimesOut(t *testing.T) {
	sb := box(t)
	_ = sb.SetHealth(200)
	art := tarball(t, append(good("r1"), dir("greenlight/hooks/"), script("greenlight/hooks/install", "#!/bin/sh\nexec tail -f /dev/null\n"))...)
	res, err := sandbox.Run(context.Background(), sandbox.Spec{Document: instance.Deploy, Params: deployParams(t, sb, "r1", art, nil), Sandbox: sb, Timeout: 500 * time.Millisecond})
	if !errors.Is(err, sandbox.ErrTimedOut) || res.ExitCode != -1 {
		t.Errorf("err = %v, exit %d; want ErrTimedOut", err, res.ExitCode)
	}
	if !bytes.Contains([]byte(res.Script), []byte("RELEASE_ID='r1'")) {
		t.Error("no rendered script in the result")
	}
}
