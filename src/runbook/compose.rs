//! Composition: a step that runs another runbook (`runbook: ID`) is replaced, when a runbook is
//! loaded to run or to show, by the called runbook's steps, their ids prefixed with the calling
//! step's (`check-redis/redis-ping`; `scale#2/wait-lag` for the second round of a `repeat`). They
//! then plan, run, record and report like any other step; the call's `when:` and a repeat's
//! `until` travel with them as gates.

use std::collections::BTreeMap;

use crate::diagnostic::did_you_mean;
use crate::error::Error;
use crate::runbook::Runbook;
use crate::runbook::model::*;
use crate::runbook::template;
use crate::schema::Loc;

/// How deep calls may nest: deeper is almost surely a mistake, and a cycle is caught anyway.
const MAX_DEPTH: usize = 5;

/// `runbook` with every call replaced by the called steps. `load` reads (and validates) a
/// runbook by id.
pub(crate) fn expand(
  runbook: Runbook,
  load: &dyn Fn(&str) -> Result<Runbook, Error>,
) -> Result<Runbook, Error> {
  let id = runbook.id.clone();
  expand_in(runbook, load, &mut vec![id])
}

fn expand_in(
  mut runbook: Runbook,
  load: &dyn Fn(&str) -> Result<Runbook, Error>,
  stack: &mut Vec<String>,
) -> Result<Runbook, Error> {
  if !runbook
    .steps
    .iter()
    .any(|s| matches!(s.kind, StepKind::Call(_)))
  {
    return Ok(runbook);
  }
  let mut steps = Vec::new();
  let mut added: Vec<Parameter> = Vec::new();
  for step in std::mem::take(&mut runbook.steps) {
    let StepKind::Call(call) = &step.kind else {
      steps.push(step);
      continue;
    };
    let callee_id = call.runbook.value.clone();
    if stack.contains(&callee_id) || stack.len() > MAX_DEPTH {
      return Err(invalid(
        &runbook.id,
        format!(
          "step `{}` runs `{callee_id}`, which makes a cycle or nests too deep: {} → {callee_id}",
          step.id.value,
          stack.join(" → ")
        ),
      ));
    }
    stack.push(callee_id.clone());
    let callee = expand_in(load(&callee_id)?, load, stack)?;
    stack.pop();
    let params = bind(&runbook, &step, call, &callee, &mut added)?;
    let rounds = call.repeat.as_ref().map_or(1, |r| r.times);
    for round in 1..=rounds {
      let prefix = match call.repeat {
        Some(_) => format!("{}#{round}", step.id.value),
        None => step.id.value.clone(),
      };
      let mut gates = step.gates.clone();
      if !step.when.is_empty() {
        gates.push(Gate {
          when: step.when.clone(),
          negate: false,
        });
      }
      // A later round runs only while no earlier round ended the repeat.
      if let Some(until) = call.repeat.as_ref().and_then(|r| r.until.as_ref()) {
        for earlier in 1..round {
          let names = Names {
            prefix: format!("{}#{earlier}", step.id.value),
            params: &params,
            questions: &callee,
          };
          gates.push(Gate {
            when: names.when(until),
            negate: true,
          });
        }
      }
      let names = Names {
        prefix,
        params: &params,
        questions: &callee,
      };
      for inner in &callee.steps {
        steps.push(names.step(inner, &gates));
      }
    }
  }
  runbook.parameters.extend(added);
  runbook.steps = steps;
  Ok(runbook)
}

/// The called runbook's parameters, by name, as names of the caller: a `{{name}}` given in
/// `vars`, or a parameter added to the caller (`CALL.name`) holding the given value or the
/// callee's own default (and its choices, help, secret).
fn bind(
  caller: &Runbook,
  step: &Step,
  call: &Call,
  callee: &Runbook,
  added: &mut Vec<Parameter>,
) -> Result<BTreeMap<String, String>, Error> {
  for (name, _) in &call.vars {
    if callee.parameter(name).is_none() {
      let names = callee.parameters.iter().map(|p| p.name.value.as_str());
      return Err(invalid(
        &caller.id,
        format!(
          "step `{}` gives `{}`, which `{}` has no parameter for{}",
          step.id.value,
          name.value,
          callee.id,
          did_you_mean(&name.value, names)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default()
        ),
      ));
    }
  }
  let mut map = BTreeMap::new();
  for parameter in &callee.parameters {
    let name = &parameter.name.value;
    let given = call
      .vars
      .iter()
      .find(|(n, _)| n.value == *name)
      .map(|(_, v)| v);
    if let Some(value) = given {
      let placeholders: Vec<(&str, usize)> = template::placeholders(value).collect();
      match placeholders.as_slice() {
        [(inner, _)]
          if value.trim() == format!("{{{{{inner}}}}}")
            || value.trim() == format!("{{{{ {inner} }}}}") =>
        {
          map.insert(name.clone(), inner.to_string());
          continue;
        }
        [] => {}
        _ => {
          return Err(invalid(
            &caller.id,
            format!(
              "step `{}` gives `{name}` as `{}`: a value is plain text or exactly one {{{{name}}}}",
              step.id.value, value.value
            ),
          ));
        }
      }
    }
    let own = format!("{}.{name}", step.id.value);
    let mut p = parameter.clone();
    p.name = Loc {
      value: own.clone(),
      pos: parameter.name.pos,
    };
    if let Some(value) = given {
      p.default = Some(value.clone());
      p.required = false;
    }
    if !added.iter().any(|a| a.name.value == own) {
      added.push(p);
    }
    map.insert(name.clone(), own);
  }
  Ok(map)
}

/// Renames a called runbook's names into the caller's.
struct Names<'a> {
  prefix: String,
  params: &'a BTreeMap<String, String>,
  questions: &'a Runbook,
}

impl Names<'_> {
  fn id(&self, id: &str) -> String {
    format!("{}/{id}", self.prefix)
  }

  fn name(&self, name: &str) -> String {
    if let Some((step, capture)) = name.strip_prefix("steps.").and_then(|r| r.split_once('.')) {
      return format!("steps.{}.{capture}", self.id(step));
    }
    if let Some(own) = self.params.get(name) {
      return own.clone();
    }
    if self.questions.question(name).is_some() {
      return format!("{}.{name}", self.prefix);
    }
    // `host`, and names the called runbook's validation already vouched for.
    name.to_string()
  }

  fn text(&self, text: &Loc<String>) -> Loc<String> {
    Loc {
      value: template::rename(&text.value, |n| self.name(n)),
      pos: text.pos,
    }
  }

  fn ids(&self, ids: &[Loc<String>]) -> Vec<Loc<String>> {
    ids
      .iter()
      .map(|i| Loc {
        value: self.id(&i.value),
        pos: i.pos,
      })
      .collect()
  }

  fn when(&self, when: &When) -> When {
    When {
      failed: self.ids(&when.failed),
      passed: self.ids(&when.passed),
      unknown: self.ids(&when.unknown),
      values: when
        .values
        .iter()
        .map(|t| ValueTest {
          name: Loc {
            value: self.name(&t.name.value),
            pos: t.name.pos,
          },
          test: t.test.clone(),
        })
        .collect(),
    }
  }

  fn step(&self, inner: &Step, gates: &[Gate]) -> Step {
    let mut s = inner.clone();
    s.id.value = self.id(&inner.id.value);
    s.title = template::rename(&inner.title, |n| self.name(n));
    s.targets = inner.targets.iter().map(|t| self.text(t)).collect();
    s.when = self.when(&inner.when);
    s.after = inner.after.as_ref().map(|a| Loc {
      value: self.id(&a.value),
      pos: a.pos,
    });
    s.verifies = inner
      .verifies
      .iter()
      .map(|v| Loc {
        value: self.id(&v.value),
        pos: v.pos,
      })
      .collect();
    s.gates = gates
      .iter()
      .cloned()
      .chain(inner.gates.iter().map(|g| Gate {
        when: self.when(&g.when),
        negate: g.negate,
      }))
      .collect();
    s.kind = match &inner.kind {
      StepKind::Check { command, expect } => StepKind::Check {
        command: self.text(command),
        expect: self.expect(expect),
      },
      StepKind::Action {
        command,
        confirm,
        destructive,
        expect,
      } => StepKind::Action {
        command: self.text(command),
        confirm: confirm.as_ref().map(|c| self.text(c)),
        destructive: *destructive,
        expect: self.expect(expect),
      },
      StepKind::Manual { instructions } => StepKind::Manual {
        instructions: self.text(instructions),
      },
      StepKind::Input(q) => {
        let mut q = q.clone();
        q.name.value = self.name(&q.name.value);
        q.default = q.default.as_ref().map(|d| self.text(d));
        StepKind::Input(q)
      }
      // Expanded already, innermost first.
      StepKind::Call(c) => StepKind::Call(c.clone()),
    };
    s
  }

  fn expect(&self, expect: &Expect) -> Expect {
    let mut e = expect.clone();
    for p in [
      &mut e.stdout_matches,
      &mut e.stdout_not_matches,
      &mut e.stderr_matches,
      &mut e.stderr_not_matches,
    ]
    .into_iter()
    .flatten()
    {
      *p = self.text(p);
    }
    for t in &mut e.thresholds {
      t.regex = self.text(&t.regex);
    }
    e
  }
}

fn invalid(runbook: &str, message: String) -> Error {
  Error::Composition {
    runbook: runbook.to_string(),
    message,
  }
}

/// Runbook `id` from `catalog`, parsed (and validated, with `inventory`), with its calls
/// expanded; the called runbooks are validated the same way.
pub(crate) fn load(
  catalog: &crate::runbook::catalog::Catalog,
  id: &str,
  inventory: Option<&crate::inventory::Inventory>,
) -> Result<Runbook, Error> {
  let one = |id: &str| valid(catalog, id, inventory);
  expand(one(id)?, &one)
}

/// Runbook `id` from `catalog`, parsed and (with `inventory`) validated; not expanded.
pub(crate) fn valid(
  catalog: &crate::runbook::catalog::Catalog,
  id: &str,
  inventory: Option<&crate::inventory::Inventory>,
) -> Result<Runbook, Error> {
  let entry = catalog.get(id)?;
  let source = entry.source()?;
  crate::runbook::load(&source, Some(&entry.id), inventory)
    .valid()
    .map_err(|diagnostics| Error::Invalid {
      what: format!("runbook `{}`", entry.id),
      diagnostics,
    })
}
