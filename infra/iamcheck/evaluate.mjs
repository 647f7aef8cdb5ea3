// evaluate.mjs: the independent IAM evaluation's judge. It reads one batch
// of authorization requests on stdin and answers each with the decision
// of @cloud-copilot/iam-simulate, an evaluator built from AWS's Service
// Authorization Reference (which resource types and condition keys each
// action has), in its Strict mode: a condition on a key the request does
// not carry fails.
//
// stdin:  {"policies": {"<set>": [{"name", "document"}, ...]},
//          "requests": [{"id", "set", "principal", "action", "resource",
//                        "context": {"<key>": "v" | ["v", ...]},
//                        "resourcePolicy": {...} (optional: a KMS key's policy)}]}
// stdout: [{"id", "result": "Allowed" | "ImplicitlyDenied" |
//           "ExplicitlyDenied" | "Error", "reason", "ignored": [keys]}]
//
// infra/iamcheck_test.go builds the batch from the calls the functions made
// on the local engine and the synthesized template's policies.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const input = JSON.parse(await new Response(process.stdin).text())
const out = []
for (const req of input.requests) {
  const docs = input.policies[req.set]
  if (!docs) {
    out.push({ id: req.id, result: 'Error', reason: `no policy set ${req.set}` })
    continue
  }
  const res = await simulate(req, docs, req.resource)
  if (res.resultType === 'error') {
    out.push({ id: req.id, result: 'Error', reason: JSON.stringify(res.errors) })
    continue
  }
  let results = res.resultType === 'single' ? [res.result] : res.results
  if (res.overallResult !== 'Allowed' && results.length === 0) {
    // A resource to be created is named with a wildcard (instance/*), as
    // AWS names it; iam-simulate keeps no analysis of a wildcard resource
    // it denies, so the same request on a stand-in id explains it.
    const standIn = await simulate(req, docs, req.resource.replace(/\*$/, 'to-be-created'))
    if (standIn.resultType === 'single') results = [standIn.result]
  }
  const ignored = [...new Set(results.flatMap((r) => r.ignoredContextKeys || []))]
  out.push({
    id: req.id,
    result: res.overallResult,
    reason: res.overallResult === 'Allowed' ? '' : why(req, results),
    ignored
  })
}
process.stdout.write(JSON.stringify(out))

function simulate(req, docs, resource) {
  return runSimulation(
    {
      request: {
        principal: req.principal,
        action: req.action,
        // The functions' roles and every resource they use are in one account.
        resource: { resource, accountId: req.principal.split(':')[4] },
        contextVariables: req.context || {}
      },
      identityPolicies: docs.map((p) => ({ name: p.name, policy: p.document })),
      resourcePolicy: req.resourcePolicy,
      serviceControlPolicies: [],
      resourceControlPolicies: []
    },
    { simulationMode: 'Strict' }
  )
}

// why says, for a request no statement allows, what each statement that
// names the action lacked: the resource, or which condition failed.
function why(req, results) {
  if (results.length === 0) {
    return `no statement allows ${req.action} on a resource matching ${req.resource}`
  }
  const parts = []
  for (const r of results) {
    const a = r.analysis?.identityAnalysis
    if (!a) continue
    for (const s of a.denyStatements) parts.push(`denied by ${s.policyId} statement ${s.explain?.identifier}`)
    const relevant = a.unmatchedStatements.filter((s) => s.explain?.actionMatch)
    if (relevant.length === 0 && a.allowStatements.length === 0) {
      parts.push(`no statement of the role names ${req.action}`)
    }
    for (const s of relevant) {
      const e = s.explain
      const id = `${s.policyId} statement ${e.identifier}`
      if (!e.resourceMatch) {
        const res = [e.resources ?? []].flat().map((x) => x.resource)
        parts.push(`${id}: resource is not among ${res.join(', ')}`)
        continue
      }
      if (!e.conditionMatch) {
        const failed = (e.conditions ?? []).filter((c) => !c.matches)
        parts.push(`${id}: condition ${failed.map(condition).join(' and ')}`)
      }
    }
  }
  return parts.length ? [...new Set(parts)].join('; ') : `denied (${results.map((r) => r.analysis?.result).join(', ')})`
}

function condition(c) {
  const want = [c.values].flat().map((v) => v.value).join('|')
  const have = c.failedBecauseMissing ? 'the request has no such key' : 'the request has another value'
  return `${c.operator} ${c.conditionKeyValue} = ${want} failed: ${have}`
}
