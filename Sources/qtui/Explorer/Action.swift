import QuantKit

/// A key or mouse event from the terminal, independent of ncurses.
enum Key: Hashable {
    case character(Character)
    /// Ctrl and a letter (Ctrl-A is `.control("a")`); Ctrl-C arrives as `.interrupt`.
    case control(Character)
    case up, down, left, right, shiftLeft, shiftRight, pageUp, pageDown, home, end, delete
    case enter, escape, backspace, tab, interrupt
    case click(x: Int, y: Int)
    case wheel(Int)
    case resize(width: Int, height: Int)
}

/// Everything that changes the state: what the user asked for (through `KeyBindings`) and what the
/// background work reports. `reduce` applies each and says which effects to run.
enum Action: Equatable {
    // Navigation
    case move(Int)
    case page(Int)
    case home, end
    case scroll(Int)
    case select(screenX: Int, screenY: Int)
    case resize(width: Int, height: Int)
    // The plan and the view of it
    case thresholdStep(Float)
    case cycleSort
    case toggleExperts
    case toggleHistogramSource
    case toggleCountScale
    case cyclePanel
    case cycleMethod
    case toggleDoubleQuant
    case cycleBlocksize
    case toggleSkip
    // Overlays and prompts
    case openFilter, openThresholdPrompt, toggleHelp, closeOverlay
    case edit(PromptEdit)
    case completePath
    case submit
    // Work
    case openExport, measurePerplexity, cancelWork
    case quit, interrupt
    // Reports from the background
    case progress(Job, WorkProgress)
    case analysis(AnalysisEvent)
    case exportPlanned(ExportDialog)
    case exported(String)
    case ended(Job, JobOutcome)
}

/// How a background job ended.
enum JobOutcome: Equatable {
    case completed, cancelled
    case failed(String)
}

/// What the loop must do after an action: start or stop background work, or leave. The reducer decides;
/// the loop (`BackgroundWork`) carries it out.
enum Effect: Equatable {
    /// Analyse the weights at `blocksize`, then calibrate (reusing known statistics when `reuseCalibration`)
    /// and measure the output errors.
    case analyse(blocksize: Int, reuseCalibration: Bool)
    /// Exact int8 errors of every layer at an off-grid threshold.
    case refine(threshold: Float)
    case measurePerplexity(threshold: Float, blocksize: Int, skipModules: [String])
    /// Lay the export out (its exact size) and open the dialog.
    case planExport(ExportPlan)
    /// Complete the path in the export dialog from the file system.
    case completePath(String)
    case export(path: String)
    case cancel(Job)
    case exit(ExitReason)
}

/// Why the explorer ended.
enum ExitReason: Equatable {
    case quit
    /// Ctrl-C.
    case interrupted
    /// SIGTERM or SIGHUP (the signal's number).
    case terminated(Int32)
}
