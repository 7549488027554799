//! Timer indexes: schedule, cancel, next deadline, pop what is due.
