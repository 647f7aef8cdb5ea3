package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
)

func newRelease() *cobra.Command {
	var f targetFlags
	var version string
	var wait bool
	cmd := &cobra.Command{
		Use:   "release FILE",
		Short: "Check a release archive and upload it: the upload starts the release",
		Long: `release checks FILE (a .tar.gz) the way the Prepare step will (gzip and tar
intact, no absolute paths, no "..", no links leaving the release directory,
no devices, greenlight/run present and executable, within artifactMaxSize,
its VERSION file matching the version) and refuses it before uploading
anything. A good archive is uploaded to the release bucket as
<artifactPrefix><app>-<version>.tar.gz with its SHA-256 in the object's
metadata (and, on AWS, as the S3 checksum, so S3 rejects a corrupted
upload). The upload event starts the release.

It prints the release id and the command that follows it. --wait follows
it here instead: each timeline line as the ledger records it and, when the
approval is asked for, the commands that answer it.

The version is --version, else the one in FILE's name
(<app>-<version>.tar.gz), else the archive's VERSION file.

Exit codes: 0 uploaded (with --wait: released); 1 the archive was refused,
or with --wait the release ended otherwise than Released; 2 FILE cannot be
read or no version can be told; 3 invalid config; 4 AWS, the stack or the
local engine could not be reached.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRelease(cmd, f, args[0], version, wait)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&version, "version", "", "version to release (default: from FILE's name, else its VERSION file)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the release to its end; exit 0 only if it is Released")
	return cmd
}

// uploadView is what release prints with --json.
type uploadView struct {
	ReleaseID string      `json:"releaseId"`
	App       string      `json:"app"`
	Version   string      `json:"version"`
	Bucket    string      `json:"bucket"`
	Key       string      `json:"key"`
	VersionID string      `json:"versionId"`
	SHA256    string      `json:"sha256"`
	Size      int64       `json:"size"`
	Files     int         `json:"files"`
	Started   string      `json:"started,omitempty"` // Started or Duplicate, when known (local engine)
	Execution string      `json:"execution,omitempty"`
	Follow    string      `json:"follow"`
	Status    *statusView `json:"status,omitempty"` // with --wait
}

func runRelease(cmd *cobra.Command, f targetFlags, path, version string, wait bool) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	file, err := os.Open(path)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return withCode(exitUsage, err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := f.open(ctx)
	if err != nil {
		return err
	}

	// The same checks as the Prepare step, before anything is uploaded.
	limit := int64(b.ArtifactMaxSize) << 20
	refuse := func(format string, args ...any) error {
		return withCode(exitFailed, fmt.Errorf("%s is refused, nothing was uploaded: %s", path, fmt.Sprintf(format, args...)))
	}
	if fi.Size() > limit {
		return refuse("it is %d bytes, more than the %d MiB artifactMaxSize", fi.Size(), b.ArtifactMaxSize)
	}
	sum, err := artifact.Inspect(file, limit)
	var p *artifact.Problem
	if errors.As(err, &p) {
		return refuse("%s", p.Reason)
	}
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("read %s: %w", path, err))
	}
	fromName := versionFromName(b.App, path)
	switch {
	case version != "":
	case fromName != "":
		version = fromName
	case sum.Version != "":
		version = sum.Version
	default:
		return withCode(exitUsage, fmt.Errorf("cannot tell the version of %s: name it %s-<version>.tar.gz, put a VERSION file in it, or pass --version", path, b.App))
	}
	if sum.Version != "" && sum.Version != version {
		return refuse("its VERSION file says %q but it would be released as %q", sum.Version, version)
	}
	key := b.ArtifactPrefix + b.App + "-" + version + ".tar.gz"
	if _, err := release.VersionFromKey(b.ArtifactPrefix, b.App, key); err != nil {
		return withCode(exitUsage, fmt.Errorf("version %q cannot name an artifact: %w", version, err))
	}

	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	raw, err := hex.DecodeString(sum.SHA256)
	if err != nil || len(raw) != sha256.Size {
		return fmt.Errorf("sha256 of %s: %q", path, sum.SHA256)
	}
	put := &s3.PutObjectInput{
		Bucket:        aws.String(b.Bucket),
		Key:           aws.String(key),
		Body:          file,
		ContentLength: aws.Int64(sum.CompressedSize),
		ContentType:   aws.String("application/gzip"),
		Metadata:      map[string]string{release.MetadataSHA256: sum.SHA256},
	}
	// Who uploaded it, for the approval page; an identity STS cannot
	// tell leaves it out rather than stop the upload.
	if who, err := b.Who(ctx); err == nil && who != "" {
		put.Metadata[release.MetadataUploadedBy] = who
	}
	if !b.Local {
		// S3 verifies the body against it and keeps it with the object.
		put.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(raw))
	}
	uri := fmt.Sprintf("s3://%s/%s", b.Bucket, key)
	res, err := b.S3.PutObject(ctx, put)
	if err != nil {
		return awsError("upload "+uri, "s3:PutObject", err, nil)
	}
	vid := aws.ToString(res.VersionId)
	if vid == "" || vid == "null" {
		return withCode(exitAWS, fmt.Errorf("%s was uploaded without a version id: the release bucket must be versioned (the stack's bucket is); the release will be refused", uri))
	}
	id := release.ReleaseID(b.App, version, b.Bucket, key, vid)
	up := uploadView{ReleaseID: id, App: b.App, Version: version, Bucket: b.Bucket, Key: key, VersionID: vid,
		SHA256: sum.SHA256, Size: sum.CompressedSize, Files: sum.Files, Follow: "greenlight status " + id + b.Hint + " --watch"}
	started, err := b.Deliver(ctx, key, vid, sum.CompressedSize)
	if err != nil {
		return withCode(exitAWS, fmt.Errorf("deliver the upload event of %s: %w", uri, err))
	}
	if started != nil {
		up.Started, up.Execution = started.Status, started.Execution
	}

	text := out
	if f.json {
		text = errOut
	}
	if !f.json || wait {
		fmt.Fprintf(text, "uploaded %s to %s\n", filepath.Base(path), uri)
		fmt.Fprintf(text, "  version %s, %s, %d files, sha256 %s, S3 version %s\n", version, size(sum.CompressedSize), sum.Files, sum.SHA256, vid)
		switch {
		case started == nil:
			fmt.Fprintf(text, "release %s starts as S3 reports the upload (a few seconds)\n", id)
		case started.Status == release.Duplicate:
			fmt.Fprintf(text, "release %s already exists: the upload event was a duplicate\n", id)
		default:
			fmt.Fprintf(text, "release %s started\n", id)
		}
		if !wait {
			fmt.Fprintf(text, "follow it:\n  %s\n", up.Follow)
		}
	}
	if !wait {
		if f.json {
			return writeJSON(out, up)
		}
		return nil
	}

	return followToEnd(ctx, b, id, text, f.json, out, func(v *statusView) any { up.Status = v; return up })
}

// followToEnd follows a release (or rollback) the ledger is about to
// record until it ends, printing its timeline to text; with asJSON the
// final view, made by result from the status, goes to out. The exit code
// says how it ended.
func followToEnd(ctx context.Context, b *backend, id string, text io.Writer, asJSON bool, out io.Writer, result func(*statusView) any) error {
	rec, err := awaitRecord(ctx, b, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(text)
	last, err := follow(ctx, b, rec, text, 0, false)
	if err != nil {
		return err
	}
	if asJSON {
		v, err := statusOf(ctx, b, last)
		if err != nil {
			return err
		}
		if err := writeJSON(out, result(&v)); err != nil {
			return err
		}
	}
	return endedWith(last)
}

// awaitRecord waits for the start step to record a release: on AWS the
// upload event takes a few seconds to arrive.
func awaitRecord(ctx context.Context, b *backend, id string) (ledger.Record, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err := b.Ledger.Get(ctx, b.App, id)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ledger.ErrNotFound) {
			return r, ledgerError(b, err)
		}
		if time.Now().After(deadline) {
			return r, withCode(exitAWS, fmt.Errorf("release %s did not start within 2m of the upload: check that the bucket's EventBridge notifications and the stack's rule are enabled, and the start function's logs", id))
		}
		select {
		case <-ctx.Done():
			return r, withCode(exitFailed, fmt.Errorf("stopped waiting; the upload is done and %s will start: greenlight status %s%s --watch", id, id, b.Hint))
		case <-time.After(b.Poll):
		}
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
