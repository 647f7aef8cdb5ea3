package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// newLedger is a ledger on dynalite, DynamoDB's behaviour rather than ours.
func newLedger(t *testing.T) (*Ledger, *time.Time) {
	t.Helper()
	db := sim.NewDynamo(t)
	ctx := context.Background()
	if err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("ledger"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	return &Ledger{DB: db.Client(), Table: "ledger", Now: func() time.Time { return now }}, &now
}

func TestLock(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if err := l.Acquire(ctx, "shop", "rel-a"); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(ctx, "shop", "rel-a"); err != nil {
		t.Fatalf("taking the lock again for the same release (a retried step): %v", err)
	}
	err := l.Acquire(ctx, "shop", "rel-b")
	var busy release.ReleaseInProgress
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "rel-a") {
		t.Fatalf("a second release: %v, want ReleaseInProgress naming rel-a", err)
	}
	if err := l.Acquire(ctx, "blog", "rel-c"); err != nil {
		t.Fatalf("another app's lock is its own: %v", err)
	}
	if err := l.Release(ctx, "shop", "rel-b"); err != nil {
		t.Fatal(err)
	}
	if lk, held, _ := l.LockHolder(ctx, "shop"); !held || lk.ReleaseID != "rel-a" {
		t.Fatalf("a release that does not hold the lock freed it: %+v %v", lk, held)
	}
	if err := l.Release(ctx, "shop", "rel-a"); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := l.LockHolder(ctx, "shop"); held {
		t.Fatal("the holder did not free the lock")
	}
	if err := l.Acquire(ctx, "shop", "rel-b"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	lk, held, err := l.ForceRelease(ctx, "shop")
	if err != nil || !held || lk.ReleaseID != "rel-b" {
		t.Fatalf("force release: %+v %v %v", lk, held, err)
	}
	if _, held, _ := l.ForceRelease(ctx, "shop"); held {
		t.Fatal("breaking a free lock reported a holder")
	}
}

func TestRecords(t *testing.T) {
	l, now := newLedger(t)
	ctx := context.Background()
	rec := Record{App: "shop", ReleaseID: "rel-1", Version: "1.0.0", Status: StatusStarting, StartedAt: *now}
	if created, err := l.Create(ctx, rec); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if created, err := l.Create(ctx, rec); err != nil || created {
		t.Fatalf("create again (a duplicate event) must not overwrite: %v %v", created, err)
	}
	*now = now.Add(time.Minute)
	if err := l.Update(ctx, "shop", "rel-1", Change{
		Set:   map[string]any{"status": StatusAwaitingApproval, "token": "secret", "tokenExpires": now.Add(time.Hour)},
		Event: &Event{Step: "AwaitApproval", Detail: "waiting"},
		Add:   map[string]int{"duplicates": 1},
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, "shop", "rel-1", Change{Remove: []string{"token", "tokenExpires"}, Event: &Event{Step: "SwitchTraffic", Detail: "moved"}}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Get(ctx, "shop", "rel-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusAwaitingApproval || got.Token != "" || !got.TokenExpires.IsZero() || got.Duplicates != 1 ||
		len(got.Timeline) != 2 || got.Timeline[1].Step != "SwitchTraffic" || !got.Timeline[0].At.Equal(*now) || !got.EndedAt.IsZero() {
		t.Errorf("record %+v", got)
	}
	if err := l.Update(ctx, "shop", "no-such", Change{Set: map[string]any{"status": "x"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("updating a missing release: %v, want ErrNotFound", err)
	}
	if _, err := l.Get(ctx, "shop", "no-such"); !errors.Is(err, ErrNotFound) {
		t.Errorf("reading a missing release: %v", err)
	}
}

func TestHistoryIsNewestFirstAndPerApp(t *testing.T) {
	l, now := newLedger(t)
	ctx := context.Background()
	for i, id := range []string{"rel-1", "rel-2", "rel-3"} {
		if _, err := l.Create(ctx, Record{App: "shop", ReleaseID: id, StartedAt: now.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Create(ctx, Record{App: "blog", ReleaseID: "other", StartedAt: *now}); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(ctx, "shop", "rel-3"); err != nil { // not a release item
		t.Fatal(err)
	}
	h, err := l.History(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range h {
		ids = append(ids, r.ReleaseID)
	}
	if strings.Join(ids, ",") != "rel-3,rel-2,rel-1" {
		t.Errorf("history %v", ids)
	}
}

func TestServing(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if _, ok, err := l.Serving(ctx, "shop"); err != nil || ok {
		t.Fatalf("before any release: %v %v", ok, err)
	}
	s := Serving{App: "shop", LiveInstance: "i-new", LiveRelease: "rel-2", PreviousInstance: "i-old", RetireAfter: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}
	if err := l.SetServing(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, ok, err := l.Serving(ctx, "shop")
	if err != nil || !ok || got.LiveInstance != "i-new" || got.PreviousInstance != "i-old" || !got.RetireAfter.Equal(s.RetireAfter) {
		t.Fatalf("serving %+v %v %v", got, ok, err)
	}
}

// TestServingFleet: a fleet's sides are kept whole, their first instance
// in the singular fields for older readers; a record written before
// fleets reads as a side of one; forgetting the kept side's instances one
// by one clears what described it only once none is left.
func TestServingFleet(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	due := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	s := Serving{App: "shop", LiveRelease: "rel-2", PreviousRelease: "rel-1", PreviousVersion: "1.0.0", RetireAfter: due}
	s.SetLive([]string{"i-n1", "i-n2", "i-n3"})
	s.SetPrevious([]string{"i-o1", "i-o2", "i-o3"})
	if err := l.SetServing(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, _, err := l.Serving(ctx, "shop")
	if err != nil || got.LiveInstance != "i-n1" || got.PreviousInstance != "i-o1" ||
		strings.Join(got.LiveIDs(), ",") != "i-n1,i-n2,i-n3" || strings.Join(got.PreviousIDs(), ",") != "i-o1,i-o2,i-o3" {
		t.Fatalf("serving %+v %v", got, err)
	}
	if !got.ForgetPrevious([]string{"i-o1", "i-x"}) || got.PreviousInstance != "i-o2" || strings.Join(got.PreviousIDs(), ",") != "i-o2,i-o3" ||
		got.PreviousRelease != "rel-1" || !got.RetireAfter.Equal(due) {
		t.Errorf("after forgetting one: %+v", got)
	}
	if got.ForgetPrevious([]string{"i-x"}) {
		t.Error("forgetting an instance not kept changed the record")
	}
	if !got.ForgetPrevious([]string{"i-o2", "i-o3"}) || got.PreviousIDs() != nil || got.PreviousInstance != "" || got.PreviousRelease != "" ||
		got.PreviousVersion != "" || !got.RetireAfter.IsZero() {
		t.Errorf("after forgetting all: %+v", got)
	}

	old := Serving{App: "blog", LiveInstance: "i-new", PreviousInstance: "i-old"}
	if err := l.SetServing(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, _, err = l.Serving(ctx, "blog")
	if err != nil || strings.Join(got.LiveIDs(), ",") != "i-new" || strings.Join(got.PreviousIDs(), ",") != "i-old" {
		t.Errorf("a record from before fleets: live %v previous %v (%v)", got.LiveIDs(), got.PreviousIDs(), err)
	}
	if none := (Serving{}); none.LiveIDs() != nil || none.PreviousIDs() != nil {
		t.Errorf("an empty record has sides %v, %v", none.LiveIDs(), none.PreviousIDs())
	}
}

// The first answer to an approval stands, whoever gave it and however: a
// second one (an approval link after the CLI, a second POST) is refused,
// and an answer for a token the release no longer waits on too.
func TestClaimAnswer(t *testing.T) {
	l, now := newLedger(t)
	ctx := context.Background()
	if _, err := l.Create(ctx, Record{App: "shop", ReleaseID: "rel-a", Status: StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, "shop", "rel-a", Change{Set: map[string]any{"token": "tok-1", "status": StatusAwaitingApproval}}); err != nil {
		t.Fatal(err)
	}
	link := Answer{Approved: true, By: "approval link from 203.0.113.7", Via: AnswerViaLink, At: *now, Client: "203.0.113.7", UserAgent: "Mobile Safari"}
	if won, err := l.ClaimAnswer(ctx, "shop", "rel-a", "tok-0", link); err != nil || won {
		t.Fatalf("a claim for another token: won=%v err=%v, want refused", won, err)
	}
	if won, err := l.ClaimAnswer(ctx, "shop", "rel-a", "tok-1", link); err != nil || !won {
		t.Fatalf("the first claim: won=%v err=%v", won, err)
	}
	cli := Answer{Approved: false, By: "arn:aws:iam::123456789012:user/ops", Via: AnswerViaCLI, At: now.Add(time.Second)}
	if won, err := l.ClaimAnswer(ctx, "shop", "rel-a", "tok-1", cli); err != nil || won {
		t.Fatalf("a second claim: won=%v err=%v, want refused", won, err)
	}
	r, err := l.Get(ctx, "shop", "rel-a")
	if err != nil || r.Answer == nil || *r.Answer != link {
		t.Fatalf("the answer recorded: %+v (%v), want %+v", r.Answer, err, link)
	}
	// Dropping someone else's claim does nothing; dropping one's own
	// lets the approval be answered again.
	if err := l.DropClaim(ctx, "shop", "rel-a", cli); err != nil {
		t.Fatal(err)
	}
	if r, _ := l.Get(ctx, "shop", "rel-a"); r.Answer == nil {
		t.Fatal("dropping another answer's claim removed the standing one")
	}
	if err := l.DropClaim(ctx, "shop", "rel-a", link); err != nil {
		t.Fatal(err)
	}
	if won, err := l.ClaimAnswer(ctx, "shop", "rel-a", "tok-1", cli); err != nil || !won {
		t.Fatalf("a claim after the first was dropped: won=%v err=%v", won, err)
	}
}

func TestAnswerString(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 12, 0, 0, time.UTC)
	for _, c := range []struct {
		a    Answer
		want string
	}{
		{Answer{Approved: true, By: "approval link from 203.0.113.7", Via: AnswerViaLink, UserAgent: "Mobile Safari", At: at}, "approved by approval link from 203.0.113.7 (Mobile Safari) at 2026-12-03 09:12:00 UTC"},
		{Answer{By: "arn:aws:iam::123456789012:user/ops", Via: AnswerViaCLI, UserAgent: "ignored", At: at}, "rejected by arn:aws:iam::123456789012:user/ops at 2026-12-03 09:12:00 UTC"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.a, got, c.want)
		}
	}
}
