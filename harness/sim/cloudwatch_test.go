package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

func describeAlarms(t *testing.T, r *Region, in *cloudwatch.DescribeAlarmsInput) []cwtypes.MetricAlarm {
	t.Helper()
	out, err := r.CloudWatch().DescribeAlarms(testCtx(), in)
	if err != nil {
		t.Fatalf("DescribeAlarms: %v", err)
	}
	return out.MetricAlarms
}

// An alarm set to ALARM is seen so by DescribeAlarms, with its reason and
// the moment it changed; names that are no alarm are left out.
func TestAlarms(t *testing.T) {
	if got := describeAlarms(t, NewTest(t, Options{}), &cloudwatch.DescribeAlarmsInput{}); len(got) != 0 {
		t.Fatalf("alarms without Options.Alarms: %+v", got)
	}
	r := NewTest(t, Options{Alarms: []string{"shop-5xx", "shop-latency"}})
	got := describeAlarms(t, r, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"shop-5xx", "nope"}})
	if len(got) != 1 || aws.ToString(got[0].AlarmName) != "shop-5xx" || got[0].StateValue != cwtypes.StateValueOk {
		t.Fatalf("alarms %+v: want shop-5xx, OK", got)
	}
	r.Advance(testCtx(), time.Minute)
	raised := r.Now()
	if err := r.SetAlarm("shop-5xx", cwtypes.StateValueAlarm, "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0)."); err != nil {
		t.Fatal(err)
	}
	got = describeAlarms(t, r, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"shop-5xx"}})
	if a := got[0]; a.StateValue != cwtypes.StateValueAlarm || !strings.HasPrefix(aws.ToString(a.StateReason), "Threshold Crossed") ||
		!aws.ToTime(a.StateUpdatedTimestamp).Equal(raised) || !aws.ToTime(a.StateTransitionedTimestamp).Equal(raised) {
		t.Fatalf("after SetAlarm: %+v", a)
	}
	r.Advance(testCtx(), time.Minute)
	if err := r.SetAlarm("shop-5xx", cwtypes.StateValueAlarm, "still"); err != nil {
		t.Fatal(err)
	}
	a := describeAlarms(t, r, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"shop-5xx"}})[0]
	if !aws.ToTime(a.StateUpdatedTimestamp).Equal(r.Now()) || !aws.ToTime(a.StateTransitionedTimestamp).Equal(raised) {
		t.Errorf("the same state again: updated %v, transitioned %v", a.StateUpdatedTimestamp, a.StateTransitionedTimestamp)
	}
	if got := describeAlarms(t, r, &cloudwatch.DescribeAlarmsInput{StateValue: cwtypes.StateValueAlarm}); len(got) != 1 {
		t.Errorf("alarms in ALARM: %d", len(got))
	}
	if got := describeAlarms(t, r, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("shop-")}); len(got) != 2 || aws.ToString(got[0].AlarmName) != "shop-5xx" {
		t.Errorf("by prefix: %+v", got)
	}
	_, err := r.CloudWatch().DescribeAlarms(testCtx(), &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("shop"), AlarmNames: []string{"shop-5xx"}})
	wantCode(t, err, "InvalidParameterCombination")
	if err := r.SetAlarm("nope", cwtypes.StateValueAlarm, ""); err == nil {
		t.Error("SetAlarm on an alarm that does not exist succeeded")
	}
	if err := r.SetAlarm("shop-5xx", "RED", ""); err == nil {
		t.Error("SetAlarm to a state that does not exist succeeded")
	}
	r.Throttle(ServiceCloudWatch, 1)
	_, err = r.CloudWatch().DescribeAlarms(testCtx(), &cloudwatch.DescribeAlarmsInput{})
	wantCode(t, err, "Throttling")
}

// metric is a Sum query of one ALB metric of a target group.
func metric(id, name string, dims map[string]string) cwtypes.MetricDataQuery {
	m := &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(name)}
	for k, v := range dims {
		m.Dimensions = append(m.Dimensions, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(v)})
	}
	return cwtypes.MetricDataQuery{Id: aws.String(id), MetricStat: &cwtypes.MetricStat{Metric: m, Period: aws.Int32(60), Stat: aws.String("Sum")}}
}

// suffixOf is the part of an ARN CloudWatch's dimensions name it by.
func suffixOf(arn, after string) string { return arn[strings.LastIndex(arn, after)+len(after):] }

// The target groups' RequestCount and HTTPCode_Target_5XX_Count are the
// requests recorded, per minute, readable a publishing delay later; a
// minute without traffic has no datapoint.
func TestALBMetrics(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	blue, green := f.TargetGroupARNs[0], f.TargetGroupARNs[1]
	lb := suffixOf(f.LoadBalancerARN, ":loadbalancer/")
	dims := func(group string) map[string]string {
		return map[string]string{"LoadBalancer": lb, "TargetGroup": suffixOf(group, ":")}
	}
	start := r.Now()
	// Minute 0: three requests to blue, one answered 500. Minute 1: none.
	// Minute 2: one request to green, answered 200.
	for _, status := range []int{200, 500, 200} {
		if err := r.RecordALBRequest(blue, status); err != nil {
			t.Fatal(err)
		}
	}
	r.Advance(testCtx(), 2*time.Minute)
	if err := r.RecordALBRequest(green, 200); err != nil {
		t.Fatal(err)
	}
	query := func(q ...cwtypes.MetricDataQuery) []cwtypes.MetricDataResult {
		t.Helper()
		out, err := r.CloudWatch().GetMetricData(testCtx(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(start.Add(10 * time.Minute)),
			MetricDataQueries: q, ScanBy: cwtypes.ScanByTimestampAscending})
		if err != nil {
			t.Fatalf("GetMetricData: %v", err)
		}
		return out.MetricDataResults
	}
	points := func(res cwtypes.MetricDataResult) map[int]float64 {
		got := map[int]float64{}
		for n, ts := range res.Timestamps {
			got[int(ts.Sub(start)/time.Minute)] = res.Values[n]
		}
		return got
	}
	// Minute 2 is not published yet; minute 0 is.
	res := query(metric("req", "RequestCount", dims(blue)))
	if got := points(res[0]); len(got) != 1 || got[0] != 3 {
		t.Fatalf("blue requests at %s: %v, want minute 0 only, 3", r.Now().Format(time.TimeOnly), got)
	}
	r.Advance(testCtx(), time.Minute+r.Latencies().MetricPublishDelay)
	res = query(metric("req", "RequestCount", dims(blue)), metric("err", "HTTPCode_Target_5XX_Count", dims(blue)),
		metric("greq", "RequestCount", dims(green)), metric("gerr", "HTTPCode_Target_5XX_Count", dims(green)),
		metric("all", "RequestCount", map[string]string{"LoadBalancer": lb}), metric("tgonly", "RequestCount", map[string]string{"TargetGroup": suffixOf(blue, ":")}))
	want := []map[int]float64{
		{0: 3, 2: 0}, // RequestCount is reported for every minute with traffic
		{0: 1},       // a 5XX count only when nonzero
		{0: 0, 2: 1},
		{},
		{0: 3, 2: 1},
		{}, // a combination of dimensions ELB does not publish
	}
	for n, res := range res {
		got := points(res)
		if len(got) != len(want[n]) {
			t.Errorf("%s: %v, want %v", aws.ToString(res.Id), got, want[n])
			continue
		}
		for k, v := range want[n] {
			if got[k] != v {
				t.Errorf("%s: %v, want %v", aws.ToString(res.Id), got, want[n])
			}
		}
	}
	// A five-minute period sums the minutes; newest first by default.
	five := metric("five", "RequestCount", map[string]string{"LoadBalancer": lb})
	five.MetricStat.Period = aws.Int32(300)
	out, err := r.CloudWatch().GetMetricData(testCtx(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start.Add(-5 * time.Minute)), EndTime: aws.Time(start.Add(5 * time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{five}})
	wantCode(t, err, "")
	if res := out.MetricDataResults[0]; len(res.Values) != 1 || res.Values[0] != 4 || !res.Timestamps[0].Equal(start) {
		t.Errorf("five-minute sums %v at %v, want 4 at the start", res.Values, res.Timestamps)
	}
	if err := r.RecordALBRequest(blue, 0); err == nil {
		t.Error("a status no target answers with was recorded")
	}
}

// GetMetricData checks its request as CloudWatch does.
func TestGetMetricDataValidation(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	start := r.Now()
	get := func(from, to time.Time, q ...cwtypes.MetricDataQuery) error {
		_, err := r.CloudWatch().GetMetricData(testCtx(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(from), EndTime: aws.Time(to), MetricDataQueries: q})
		return err
	}
	ok := metric("m1", "RequestCount", nil)
	odd := metric("m1", "RequestCount", nil)
	odd.MetricStat.Period = aws.Int32(90)
	wantCode(t, get(start, start.Add(time.Hour), odd), "InvalidParameterValue")
	wantCode(t, get(start, start, ok), "ValidationError")
	wantCode(t, get(start, start.Add(time.Hour), metric("M1", "RequestCount", nil)), "ValidationError")
	wantCode(t, get(start, start.Add(time.Hour), ok, ok), "ValidationError")
	wantCode(t, get(start, start.Add(time.Hour), []cwtypes.MetricDataQuery{}...), "ValidationError")
	wantCode(t, get(start, start.Add(time.Hour), ok), "")
	expr := cwtypes.MetricDataQuery{Id: aws.String("ratio"), Expression: aws.String("m1/m2")}
	if err := get(start, start.Add(time.Hour), expr); err == nil || ErrorCode(err) != "" {
		t.Errorf("a metric math query: %v, want the simulator's plain refusal", err)
	}
}
