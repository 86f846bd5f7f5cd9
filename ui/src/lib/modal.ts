//! Which dialog is on top: Esc closes only the top-most one, wherever the focus is (a button that
//! got disabled while sending leaves the focus on <body>), and the operator view leaves Esc to
//! an open dialog instead of closing the server detail beneath it.

const stack: symbol[] = [];

export interface ModalHandle {
  /** This dialog is the top-most open one. */
  top(): boolean;
  close(): void;
}

export function openModal(): ModalHandle {
  const me = Symbol('modal');
  stack.push(me);
  return {
    top: () => stack[stack.length - 1] === me,
    close: () => {
      const i = stack.indexOf(me);
      if (i >= 0) stack.splice(i, 1);
    },
  };
}

/** Some dialog is open (the operator view's Esc is not for the detail then). */
export function modalOpen(): boolean {
  return stack.length > 0;
}
