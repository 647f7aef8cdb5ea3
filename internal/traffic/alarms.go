package traffic

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/greenlight/greenlight/internal/awsapi"
)

// Alarms reads the named metric alarms that watch a shift (none for no
// names) in one call: DescribeAlarms takes up to 100 names and leaves out
// a name that matches no alarm ("DescribeAlarms", Amazon CloudWatch API
// Reference, AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
// Composite alarms are not asked for: reading them needs
// cloudwatch:DescribeAlarms on "*", and greenlight's roles read only the
// alarms the config names.
func Alarms(ctx context.Context, cw awsapi.CloudWatch, names []string) ([]cwtypes.MetricAlarm, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: names,
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm},
	})
	if err != nil {
		return nil, &CallError{Op: "cloudwatch:DescribeAlarms", Resource: strings.Join(names, ","), Err: err}
	}
	return out.MetricAlarms, nil
}
