//! Asking the operator: the UI is paused while a prompt is open, notes and the decision are
//! recorded, and a signal ends an open prompt.

use std::sync::atomic::Ordering;

use super::Engine;
use crate::exec::event::*;

impl Engine<'_> {
  /// How a run that the operator ended ends: Ctrl-C twice (or at a prompt) is an interruption.
  pub(super) fn abort_kind(&self) -> RunEnd {
    // Nobody is here to abort: an unattended run that stops after a Ctrl-C was interrupted.
    let unattended_interrupt = !self.operator.interactive() && self.interrupts.count() > 0;
    if self.prompt_interrupted.load(Ordering::Relaxed)
      || self.interrupts.stop_now()
      || unattended_interrupt
    {
      RunEnd::Interrupted
    } else {
      RunEnd::Aborted
    }
  }

  pub(super) async fn ask(&self, request: Request<'_>) -> Answer {
    self.ask_value(request).await.0
  }

  /// `ask`, with the value given for a question.
  pub(super) async fn ask_value(&self, request: Request<'_>) -> (Answer, Option<String>) {
    let (planned, host, question) = match &request {
      Request::Confirm { planned, host, .. } => (*planned, Some(*host), "confirm"),
      Request::AfterFailure { planned, result } => {
        (*planned, Some(result.host.as_str()), "after-failure")
      }
      Request::Manual { planned } => (*planned, None, "manual"),
      Request::Interrupted { planned } => (*planned, None, "interrupted"),
      Request::Input { planned, .. } => (*planned, None, "input"),
    };
    self.reporter.pause();
    // SIGTERM or SIGHUP while a prompt is open ends the run; the prompt is left unanswered.
    let decision = tokio::select! {
      decision = self.operator.decide(request) => decision,
      _ = self.interrupts.stopped() => Decision::from(Answer::Interrupt),
    };
    for text in &decision.notes {
      self.reporter.event(Event::Note {
        planned: Some(planned),
        text,
      });
    }
    self.reporter.event(Event::Decision {
      planned,
      host,
      question,
      answer: decision.answer,
      shown: decision.shown,
      // A person answering a dry run's prompt rehearsed; nothing ran.
      by: match decision.by {
        DecidedBy::Operator if self.plan.mode == crate::exec::plan::RunMode::DryRun => {
          DecidedBy::Rehearsal
        }
        by => by,
      },
      value: decision.value.as_deref(),
    });
    self.reporter.resume();
    match decision.answer {
      Answer::Interrupt => {
        self.prompt_interrupted.store(true, Ordering::Relaxed);
        (Answer::Abort, None)
      }
      answer => (answer, decision.value),
    }
  }
}
