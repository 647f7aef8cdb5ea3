package sim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func TestS3EmulatorKeepsVersions(t *testing.T) {
	s := NewS3(t, "releases")
	ctx := context.Background()
	put := func(body string) string {
		out, err := s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("releases"), Key: aws.String("releases/shop-1.tar.gz"), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		return aws.ToString(out.VersionId)
	}
	v1, v2 := put("one"), put("two")
	if v1 == "" || v1 == v2 {
		t.Fatalf("versions %q and %q: versioning is off", v1, v2)
	}
	fetch := func(version string) string {
		in := &s3.GetObjectInput{Bucket: aws.String("releases"), Key: aws.String("releases/shop-1.tar.gz")}
		if version != "" {
			in.VersionId = aws.String(version)
		}
		out, err := s.Client().GetObject(ctx, in)
		if err != nil {
			t.Fatalf("GetObject %q: %v", version, err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b)
	}
	if got := fetch(v1); got != "one" {
		t.Fatalf("version 1: %q", got)
	}
	if got := fetch(""); got != "two" {
		t.Fatalf("latest: %q", got)
	}
	_, err := s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("releases"), Key: aws.String("nope")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotFound" {
		t.Errorf("HeadObject of a missing key: %v", err)
	}
}

func TestDynaliteAnswersLikeDynamoDB(t *testing.T) {
	d := NewDynamo(t)
	ctx := context.Background()
	db := d.Client()
	err := d.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("ledger"),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	lock := func() error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           aws.String("ledger"),
			Item:                map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "lock#shop"}},
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		return err
	}
	if err := lock(); err != nil {
		t.Fatalf("first lock: %v", err)
	}
	err = lock()
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("second lock: %v, want ConditionalCheckFailedException", err)
	}
}

// startHelper runs TestDynaliteHelperProcess in a child process in the
// given mode and returns dynalite's pid, read from the child's output.
func startHelper(t *testing.T, mode string) (int, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDynaliteHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GREENLIGHT_SIM_HELPER="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "DYNALITE_PID="); ok {
			pid, _ := strconv.Atoi(rest)
			go io.Copy(io.Discard, out)
			return pid, cmd
		}
	}
	cmd.Wait()
	t.Fatalf("helper printed no pid; stderr: %s", stderr.String())
	return 0, nil
}

// TestDynaliteHelperProcess is not a test on its own: startHelper runs
// it in a child process.
func TestDynaliteHelperProcess(t *testing.T) {
	mode := os.Getenv("GREENLIGHT_SIM_HELPER")
	if mode == "" {
		t.Skip("runs only as the child of the dynalite cleanup tests")
	}
	d := NewDynamo(t)
	fmt.Printf("DYNALITE_PID=%d\n", d.PID())
	os.Stdout.Sync()
	switch mode {
	case "fail":
		t.Fatal("failing on purpose: the cleanup must still stop dynalite")
	case "hang":
		select {} // until the parent kills this process
	}
}
