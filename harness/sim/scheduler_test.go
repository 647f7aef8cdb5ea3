package sim

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

func retireSchedule(r *Region, name string, at time.Time, after schedtypes.ActionAfterCompletion) *scheduler.CreateScheduleInput {
	return &scheduler.CreateScheduleInput{
		Name: aws.String(name), GroupName: aws.String(r.Fixture().ScheduleGroup),
		ScheduleExpression:    aws.String("at(" + at.UTC().Format("2006-01-02T15:04:05") + ")"),
		FlexibleTimeWindow:    &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		ActionAfterCompletion: after,
		Target: &schedtypes.Target{Arn: aws.String("arn:aws:lambda:eu-west-1:123456789012:function:retire"),
			RoleArn: aws.String("arn:aws:iam::123456789012:role/scheduler"), Input: aws.String(`{"instance":"i-1"}`)},
	}
}

func TestSchedules(t *testing.T) {
	r := NewTest(t, Options{})
	var got []Firing
	r.OnSchedule(func(_ context.Context, f Firing) error { got = append(got, f); return nil })
	week := r.Now().Add(7 * 24 * time.Hour)

	_, err := r.Scheduler().CreateSchedule(testCtx(), retireSchedule(r, "retire-i-1", week, schedtypes.ActionAfterCompletionDelete))
	wantCode(t, err, "")
	_, err = r.Scheduler().CreateSchedule(testCtx(), retireSchedule(r, "retire-i-1", week, schedtypes.ActionAfterCompletionDelete))
	wantCode(t, err, "ConflictException")
	_, err = r.Scheduler().CreateSchedule(testCtx(), retireSchedule(r, "keep", week.Add(time.Hour), schedtypes.ActionAfterCompletionNone))
	wantCode(t, err, "")

	bad := retireSchedule(r, "bad", week, "")
	bad.ScheduleExpression = aws.String("at(next tuesday)")
	_, err = r.Scheduler().CreateSchedule(testCtx(), bad)
	wantCode(t, err, "ValidationException")
	noGroup := retireSchedule(r, "x", week, "")
	noGroup.GroupName = aws.String("nope")
	_, err = r.Scheduler().CreateSchedule(testCtx(), noGroup)
	wantCode(t, err, "ResourceNotFoundException")

	out, err := r.Scheduler().GetSchedule(testCtx(), &scheduler.GetScheduleInput{Name: aws.String("retire-i-1"), GroupName: aws.String(r.Fixture().ScheduleGroup)})
	wantCode(t, err, "")
	if out.State != schedtypes.ScheduleStateEnabled || aws.ToString(out.Target.Input) != `{"instance":"i-1"}` {
		t.Errorf("schedule %+v", out)
	}
	_, err = r.Scheduler().GetSchedule(testCtx(), &scheduler.GetScheduleInput{Name: aws.String("retire-i-1")})
	wantCode(t, err, "ResourceNotFoundException") // default group

	r.Advance(testCtx(), 7*24*time.Hour-time.Second)
	if fired, _ := r.RunDueSchedules(testCtx()); len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	r.Advance(testCtx(), 2*time.Hour)
	fired, err := r.RunDueSchedules(testCtx())
	if err != nil || len(fired) != 2 || len(got) != 2 || got[0].Name != "retire-i-1" || got[1].Name != "keep" {
		t.Fatalf("firings %v / handler saw %v (err %v)", fired, got, err)
	}
	if again, _ := r.RunDueSchedules(testCtx()); len(again) != 0 {
		t.Errorf("a one-time schedule fired twice: %v", again)
	}
	_, err = r.Scheduler().GetSchedule(testCtx(), &scheduler.GetScheduleInput{Name: aws.String("retire-i-1"), GroupName: aws.String(r.Fixture().ScheduleGroup)})
	wantCode(t, err, "ResourceNotFoundException") // deleted after completion
	_, err = r.Scheduler().DeleteSchedule(testCtx(), &scheduler.DeleteScheduleInput{Name: aws.String("keep"), GroupName: aws.String(r.Fixture().ScheduleGroup)})
	wantCode(t, err, "")
	_, err = r.Scheduler().DeleteSchedule(testCtx(), &scheduler.DeleteScheduleInput{Name: aws.String("keep"), GroupName: aws.String(r.Fixture().ScheduleGroup)})
	wantCode(t, err, "ResourceNotFoundException")
	for _, res := range r.Inventory() {
		if res.Kind == KindSchedule {
			t.Errorf("schedule left: %v", res)
		}
	}
}

func TestScheduleTimezone(t *testing.T) {
	at, err := parseScheduleExpression("at(2025-01-13T10:00:00)", "Europe/Paris")
	if err != nil {
		t.Skipf("no time zone data here: %v", err)
	}
	if want := time.Date(2025, 1, 13, 9, 0, 0, 0, time.UTC); !at.Equal(want) {
		t.Errorf("at %v, want %v", at, want)
	}
}
