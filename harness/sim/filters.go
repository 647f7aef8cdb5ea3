package sim

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// tagSet is a resource's tags.
type tagSet map[string]string

// ec2 returns the tags in the SDK's shape, sorted by key so output is
// stable.
func (t tagSet) ec2() []ec2types.Tag {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	return out
}

func (t tagSet) clone() tagSet {
	out := tagSet{}
	for k, v := range t {
		out[k] = v
	}
	return out
}

// tagsFor collects the tags a request's TagSpecifications give one
// resource type, after checking every specification names a type the
// operation can tag.
func tagsFor(specs []ec2types.TagSpecification, want ec2types.ResourceType, allowed ...ec2types.ResourceType) (tagSet, error) {
	out := tagSet{}
	for _, s := range specs {
		ok := false
		for _, a := range allowed {
			ok = ok || s.ResourceType == a
		}
		if !ok {
			return nil, apiErrorf(ServiceEC2, "InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", s.ResourceType)
		}
		if len(s.Tags) == 0 {
			return nil, apiError(ServiceEC2, "InvalidParameterValue", "Tag specification must have at least one tag")
		}
		if s.ResourceType != want {
			continue
		}
		for _, tag := range s.Tags {
			out[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
	}
	return out, nil
}

// attrFunc gives a resource's values for a filter name, and whether the
// name is one the operation knows.
type attrFunc func(name string) (values []string, known bool)

// matches applies EC2 filter semantics: every filter must match (AND); a
// filter matches when any of the resource's values matches any of the
// filter's values (OR), with * and ? wildcards. tag:<key>, tag-key and
// tag-value work on every resource. An unknown filter name is an error,
// as on AWS, so a typo in a step shows up in its tests.
func matches(filters []ec2types.Filter, tags tagSet, attr attrFunc) (bool, error) {
	for _, f := range filters {
		name := aws.ToString(f.Name)
		var have []string
		switch {
		case strings.HasPrefix(name, "tag:"):
			if v, ok := tags[strings.TrimPrefix(name, "tag:")]; ok {
				have = []string{v}
			}
		case name == "tag-key":
			for k := range tags {
				have = append(have, k)
			}
		case name == "tag-value":
			for _, v := range tags {
				have = append(have, v)
			}
		default:
			var known bool
			have, known = attr(name)
			if !known {
				return false, apiErrorf(ServiceEC2, "InvalidParameterValue", "The filter '%s' is invalid", name)
			}
		}
		if !anyMatch(f.Values, have) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if glob(p, v) {
				return true
			}
		}
	}
	return false
}

// glob matches EC2 filter wildcards: * any run, ? one character, \ escapes.
func glob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(pattern[1:], s[1:])
	case '\\':
		if len(pattern) > 1 {
			return s != "" && s[0] == pattern[1] && glob(pattern[2:], s[1:])
		}
	}
	return s != "" && s[0] == pattern[0] && glob(pattern[1:], s[1:])
}

// one is a helper for attrFuncs returning a single value.
func one(v string) ([]string, bool) {
	if v == "" {
		return nil, true
	}
	return []string{v}, true
}

// validID reports whether id looks like an AWS id with the prefix:
// prefix-, then 8 or 17 lowercase hex digits.
func validID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok || (len(rest) != 8 && len(rest) != 17) {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// malformed is EC2's answer to an id that is not one.
func malformed(code, id, prefix string) error {
	return apiError(ServiceEC2, code, fmt.Sprintf("Invalid id: %q (expecting %q)", id, prefix+"-..."))
}

// notFoundList is EC2's NotFound message for one id or several.
func notFoundList(what string, ids []string) string {
	if len(ids) == 1 {
		return fmt.Sprintf("The %s ID '%s' does not exist", what, ids[0])
	}
	return fmt.Sprintf("The %s IDs '%s' do not exist", what, strings.Join(ids, ", "))
}
