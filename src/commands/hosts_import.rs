//! `hosts import`: read an Ansible inventory or an ssh_config, write a megacity inventory (and
//! an ssh_config snippet for what Ansible said about reaching hosts), and say what was left out.

use crate::cli::HostsImportArgs;
use crate::config::Config;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::inventory_import::{self, Kind};
use crate::source::Source;
use crate::{exit_code, ui};

pub(crate) fn run(config: &Config, args: &HostsImportArgs) -> Result<i32, Error> {
  crate::ui::render::text_only(config.format, "hosts import")?;
  let source = Source::read(&args.file)?;
  let kind = inventory_import::kind(&source.text);
  let imported = match kind {
    Kind::AnsibleIni => inventory_import::ansible_ini(&source.text),
    Kind::SshConfig => inventory_import::ssh_config(&source.text),
    Kind::AnsibleYaml => {
      inventory_import::ansible_yaml(&source.text).map_err(|reason| Error::Import {
        path: args.file.clone(),
        reason,
      })?
    }
  };
  if imported.hosts.is_empty() {
    return Err(Error::Import {
      path: args.file.clone(),
      reason: "no host with a name in it".into(),
    });
  }
  let text = imported.inventory(&source.display);
  // What megacity writes, megacity must read: the same checks as any inventory.
  let mut c = crate::diagnostic::Collector::new("imported inventory", &text);
  let _ = Inventory::parse(&mut c, &text);
  if let Some(problem) = c.items.first() {
    return Err(Error::Import {
      path: args.file.clone(),
      reason: format!(
        "the result would not be a valid inventory: {}",
        problem.message
      ),
    });
  }
  match &args.output {
    Some(path) => std::fs::write(path, &text).map_err(|e| Error::Write {
      path: path.clone(),
      source: e,
    })?,
    None => ui::emit(&text)?,
  }
  let snippet = imported.ssh_snippet();
  if !snippet.is_empty() {
    match &args.ssh_config_out {
      Some(path) => std::fs::write(path, &snippet).map_err(|e| Error::Write {
        path: path.clone(),
        source: e,
      })?,
      None => say!("# add to your ssh_config (how Ansible reached these hosts):\n{snippet}"),
    }
  }
  for dropped in &imported.dropped {
    say!("not carried over: {}", crate::ui::text::sanitize(dropped));
  }
  say!(
    "imported {} host(s) from {} ({})",
    imported.hosts.len(),
    source.display,
    match kind {
      Kind::AnsibleIni => "Ansible INI inventory",
      Kind::AnsibleYaml => "Ansible YAML inventory",
      Kind::SshConfig => "ssh_config",
    }
  );
  Ok(exit_code::SUCCESS)
}
