//! Program definitions (modules, unlock rules, check-in schedules) and their validator.
