// The console contract, generated from the Rust types by anshin-report `desk::typescript`.
// Do not edit: change the Rust type, then run `make contract-types`.
import type { ReportState } from './engine';

/**
 * A report row as operators see it.
 */
export type ReportDraft = { customer_name: string | null, 
/**
 * Not sent and past the 9th of the following month.
 */
overdue: boolean, id: number, customer: string, 
/**
 * `2026-10`.
 */
month: string, state: ReportState, created_at: string, sent_at: string | null, sent_by: string | null, held_by: string | null, outbox_id: number | null, };

/**
 * What sending a report answers, and each item of a send-all: the outbox row its mail was
 * queued as, or why it was not sent.
 */
export type ReportSent = { report: number, outbox?: number, error?: string, };

/**
 * What holding or releasing a report answers: its new state.
 */
export type ReportStateChanged = { report: number, state: ReportState, };
