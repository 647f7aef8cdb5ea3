//go:build harness

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite the CLI reference in docs/cli.md from the commands' help")

const (
	readme   = "../../docs/cli.md"
	beginCLI = "<!-- CLI reference: generated from each command's --help by `go test ./cmd/greenlight -update` -->\n"
	endCLI   = "<!-- end of CLI reference -->\n"
)

// documented is the order docs/cli.md presents the commands in: an
// operator's day first.
var documented = []string{"release", "status", "approve", "reject", "abort", "promote", "rollback", "history", "lock", "lock status", "lock release", "validate", "init", "doctor", "local", "local advance", "local invoke"}

// cliReference is the CLI reference in docs/cli.md: each command's --help,
// exactly as it prints.
func cliReference(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for i, path := range documented {
		args := append(strings.Fields(path), "--help")
		var out, errOut bytes.Buffer
		if code := execute(context.Background(), args, strings.NewReader(""), &out, &errOut); code != exitOK || errOut.Len() > 0 {
			t.Fatalf("greenlight %s --help: exit %d: %s", path, code, errOut.String())
		}
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "### greenlight %s\n\n```text\n%s```\n", path, out.String())
	}
	return b.String()
}

// TestREADMEDocumentsEveryCommand fails when a command's usage, flags or
// description and its section in docs/cli.md differ; -update rewrites it.
func TestREADMEDocumentsEveryCommand(t *testing.T) {
	var visible []string
	var walk func(c *cobra.Command, prefix string)
	walk = func(c *cobra.Command, prefix string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || !sub.IsAvailableCommand() {
				continue
			}
			visible = append(visible, strings.TrimSpace(prefix+" "+sub.Name()))
			walk(sub, prefix+" "+sub.Name())
		}
	}
	walk(newRoot(), "")
	for _, v := range visible {
		if !slices.Contains(documented, v) {
			t.Errorf("greenlight %s is not in the README's CLI reference: add it to documented", v)
		}
	}

	want := cliReference(t)
	raw, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i, j := strings.Index(s, beginCLI), strings.Index(s, endCLI)
	if i < 0 || j < i {
		t.Fatalf("docs/cli.md has no CLI reference between %q and %q", strings.TrimSpace(beginCLI), strings.TrimSpace(endCLI))
	}
	got := s[i+len(beginCLI) : j]
	want = "\n" + want + "\n"
	if *update {
		if err := os.WriteFile(readme, []byte(s[:i+len(beginCLI)]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for k := 0; k < len(gl) || k < len(wl); k++ {
			var g, w string
			if k < len(gl) {
				g = gl[k]
			}
			if k < len(wl) {
				w = wl[k]
			}
			if g != w {
				t.Fatalf("docs/cli.md's CLI reference differs from the commands' --help at its line %d:\n README: %q\n   help: %q\n(go test ./cmd/greenlight -update rewrites it)", k+1, g, w)
			}
		}
	}
}
