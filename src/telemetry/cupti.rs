//! GPU kernel and copy records from CUPTI's activity API, loaded at run time
//! from `libcupti.so.13` (the `nvidia-cuda-cupti` wheel or a CUDA install).
//!
//! We enable four activity kinds: runtime and driver API calls (which carry
//! the launching host thread and time) and concurrent kernels and memcpys
//! (which carry GPU start and end). CUPTI hands filled buffers to a C
//! callback; the records are decoded there into plain Rust values and the
//! buffer is freed. [`crate::metrics::gpu_attribution`] then joins them to
//! ONNX Runtime's node windows.
//!
//! Record layouts are those of CUPTI 13's `cupti_activity.h`
//! (`CUpti_ActivityAPI`, `CUpti_ActivityKernel10`, `CUpti_ActivityMemcpy6`);
//! the offsets used are checked against that header and have been stable
//! across CUPTI versions.
//!
//! CUPTI's activity state is per process, so one [`Recorder`] runs at a time.

#![allow(unsafe_code)] // FFI into CUPTI; each block has a SAFETY note.

use std::{
    alloc::Layout,
    ffi::{CStr, c_char, c_int},
    path::Path,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use super::activity::{KernelRecord, LaunchCall};
use super::{CuptiLoadError, TelemetryError};

const KIND_MEMCPY: u32 = 1;
const KIND_DRIVER: u32 = 4;
const KIND_RUNTIME: u32 = 5;
const KIND_CONCURRENT_KERNEL: u32 = 10;
const ENABLED_KINDS: [u32; 4] = [
    KIND_RUNTIME,
    KIND_DRIVER,
    KIND_CONCURRENT_KERNEL,
    KIND_MEMCPY,
];
const FLUSH_FORCED: u32 = 1;
const SUCCESS: c_int = 0;

/// Size of each activity buffer handed to CUPTI.
const BUFFER_BYTES: usize = 8 << 20;
const BUFFER_ALIGN: usize = 8;
/// Records kept per recording; beyond this they are counted and dropped, so
/// memory stays bounded.
pub const MAX_RECORDS: usize = 4_000_000;

type BufferRequested = unsafe extern "C" fn(*mut *mut u8, *mut usize, *mut usize);
type BufferCompleted = unsafe extern "C" fn(*mut std::ffi::c_void, u32, *mut u8, usize, usize);

/// The CUPTI entry points we use.
struct Api {
    _library: libloading::Library,
    activity_enable: unsafe extern "C" fn(u32) -> c_int,
    activity_disable: unsafe extern "C" fn(u32) -> c_int,
    register_callbacks: unsafe extern "C" fn(BufferRequested, BufferCompleted) -> c_int,
    get_next_record: unsafe extern "C" fn(*mut u8, usize, *mut *mut u8) -> c_int,
    flush_all: unsafe extern "C" fn(u32) -> c_int,
    get_timestamp: unsafe extern "C" fn(*mut u64) -> c_int,
    get_result_string: unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int,
}

static API: OnceLock<Result<Api, Arc<CuptiLoadError>>> = OnceLock::new();

fn load_api(path: &Path) -> Result<Api, CuptiLoadError> {
    // SAFETY: libcupti's initialisers have no preconditions. Each symbol is
    // looked up with the C signature documented in cupti_activity.h and
    // cupti_result.h; the library is kept in the struct, so the function
    // pointers stay valid.
    unsafe {
        let library = libloading::Library::new(path).map_err(CuptiLoadError::Open)?;
        macro_rules! symbol {
            ($name:literal) => {
                *library
                    .get(concat!($name, "\0").as_bytes())
                    .map_err(|source| CuptiLoadError::Symbol {
                        symbol: $name,
                        source,
                    })?
            };
        }
        Ok(Api {
            activity_enable: symbol!("cuptiActivityEnable"),
            activity_disable: symbol!("cuptiActivityDisable"),
            register_callbacks: symbol!("cuptiActivityRegisterCallbacks"),
            get_next_record: symbol!("cuptiActivityGetNextRecord"),
            flush_all: symbol!("cuptiActivityFlushAll"),
            get_timestamp: symbol!("cuptiGetTimestamp"),
            get_result_string: symbol!("cuptiGetResultString"),
            _library: library,
        })
    }
}

impl Api {
    fn describe(&self, result: c_int) -> String {
        let mut text: *const c_char = std::ptr::null();
        // SAFETY: cuptiGetResultString writes a pointer to a static string.
        let ok = unsafe { (self.get_result_string)(result, &mut text) } == SUCCESS;
        if ok && !text.is_null() {
            // SAFETY: the string is static and NUL-terminated.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        } else {
            format!("CUPTI error {result}")
        }
    }

    fn check(&self, call: &'static str, result: c_int) -> Result<(), TelemetryError> {
        if result == SUCCESS {
            Ok(())
        } else {
            Err(TelemetryError::Cupti {
                call,
                message: self.describe(result),
            })
        }
    }

    fn timestamp(&self) -> Option<u64> {
        let mut value = 0u64;
        // SAFETY: cuptiGetTimestamp writes one u64.
        (unsafe { (self.get_timestamp)(&mut value) } == SUCCESS).then_some(value)
    }
}

/// Records decoded by the completion callback.
#[derive(Debug, Default)]
struct Collected {
    launches: Vec<LaunchCall>,
    kernels: Vec<KernelRecord>,
}

static COLLECTED: Mutex<Collected> = Mutex::new(Collected {
    launches: Vec::new(),
    kernels: Vec::new(),
});
static DROPPED: AtomicU64 = AtomicU64::new(0);
static RECORDING: AtomicBool = AtomicBool::new(false);

/// The layout of every activity buffer.
fn buffer_layout() -> Option<Layout> {
    Layout::from_size_align(BUFFER_BYTES, BUFFER_ALIGN).ok()
}

unsafe extern "C" fn buffer_requested(
    buffer: *mut *mut u8,
    size: *mut usize,
    max_records: *mut usize,
) {
    // A panic must not unwind into CUPTI: with no layout, hand out no buffer.
    let memory = buffer_layout().map_or(std::ptr::null_mut(), |layout| {
        // SAFETY: the layout has a non-zero size.
        unsafe { std::alloc::alloc(layout) }
    });
    // SAFETY: CUPTI passes valid out-pointers; a null buffer tells CUPTI that
    // no memory is available, which it handles by dropping records.
    unsafe {
        *buffer = memory;
        *size = if memory.is_null() { 0 } else { BUFFER_BYTES };
        *max_records = 0;
    }
}

unsafe extern "C" fn buffer_completed(
    _context: *mut std::ffi::c_void,
    _stream: u32,
    buffer: *mut u8,
    _size: usize,
    valid_size: usize,
) {
    if buffer.is_null() {
        return;
    }
    if let Some(Ok(api)) = API.get() {
        let mut decoded = Collected::default();
        let mut record: *mut u8 = std::ptr::null_mut();
        // SAFETY: `buffer` is the one we allocated, with `valid_size` bytes
        // of records; cuptiActivityGetNextRecord walks them and sets
        // `record` to the start of each, which is at least as long as the
        // record kind's struct.
        while unsafe { (api.get_next_record)(buffer, valid_size, &mut record) } == SUCCESS {
            // SAFETY: as above; decode reads only inside the record's struct.
            unsafe { decode(record, &mut decoded) };
        }
        if let Ok(mut collected) = COLLECTED.lock() {
            let room =
                MAX_RECORDS.saturating_sub(collected.launches.len() + collected.kernels.len());
            let total = decoded.launches.len() + decoded.kernels.len();
            if total > room {
                DROPPED.fetch_add((total - room) as u64, Ordering::Relaxed);
            }
            let kernels = decoded.kernels.len().min(room);
            collected
                .kernels
                .extend(decoded.kernels.into_iter().take(kernels));
            let launches = decoded.launches.len().min(room - kernels);
            collected
                .launches
                .extend(decoded.launches.into_iter().take(launches));
        }
    }
    if let Some(layout) = buffer_layout() {
        // SAFETY: the buffer was allocated in `buffer_requested` with this layout.
        unsafe { std::alloc::dealloc(buffer, layout) };
    }
}

/// Reads a little-endian value at `offset` of a record.
///
/// # Safety
/// `record + offset + size_of::<T>()` must lie inside the record.
unsafe fn field<T: Copy>(record: *const u8, offset: usize) -> T {
    // SAFETY: guaranteed by the caller.
    unsafe { record.add(offset).cast::<T>().read_unaligned() }
}

/// Decodes one activity record.
///
/// # Safety
/// `record` must point to a complete CUPTI activity record.
unsafe fn decode(record: *const u8, into: &mut Collected) {
    // SAFETY: every record starts with its kind; the offsets below are inside
    // the struct of that kind (CUpti_ActivityAPI is 40 bytes,
    // CUpti_ActivityKernel10 and CUpti_ActivityMemcpy6 are longer than the
    // last field read).
    unsafe {
        match field::<u32>(record, 0) {
            KIND_RUNTIME | KIND_DRIVER => into.launches.push(LaunchCall {
                start_nanos: field::<u64>(record, 8),
                thread_id: u64::from(field::<u32>(record, 28)),
                correlation_id: field::<u32>(record, 32),
            }),
            KIND_CONCURRENT_KERNEL => {
                let name: *const c_char = field(record, 104);
                into.kernels.push(KernelRecord {
                    name: if name.is_null() {
                        "kernel".to_owned()
                    } else {
                        CStr::from_ptr(name).to_string_lossy().into_owned()
                    },
                    start_nanos: field::<u64>(record, 16),
                    end_nanos: field::<u64>(record, 24),
                    correlation_id: field::<u32>(record, 92),
                });
            }
            KIND_MEMCPY => into.kernels.push(KernelRecord {
                name: memcpy_name(field::<u8>(record, 4)).to_owned(),
                start_nanos: field::<u64>(record, 16),
                end_nanos: field::<u64>(record, 24),
                correlation_id: field::<u32>(record, 44),
            }),
            _ => {}
        }
    }
}

/// `CUpti_ActivityMemcpyKind` as a label.
fn memcpy_name(kind: u8) -> &'static str {
    match kind {
        1 => "[memcpy HtoD]",
        2 => "[memcpy DtoH]",
        8 => "[memcpy DtoD]",
        10 => "[memcpy PtoP]",
        _ => "[memcpy]",
    }
}

/// What a recording produced.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub launches: Vec<LaunchCall>,
    pub kernels: Vec<KernelRecord>,
    /// Records not kept (over [`MAX_RECORDS`]).
    pub dropped: u64,
    /// CUPTI's clock minus the system clock (`CLOCK_REALTIME`), in ns.
    pub offset_from_realtime: i128,
    /// CUPTI's clock minus `CLOCK_MONOTONIC`, in ns.
    pub offset_from_monotonic: i128,
}

/// An active CUPTI recording. Dropping it without [`Recorder::finish`]
/// disables the activity kinds again.
pub struct Recorder {
    api: &'static Api,
    offset_from_realtime: i128,
    offset_from_monotonic: i128,
}

impl Recorder {
    /// Loads CUPTI from `library` (once per process) and starts recording.
    pub fn start(library: &Path) -> Result<Self, TelemetryError> {
        let api = API
            .get_or_init(|| load_api(library).map_err(Arc::new))
            .as_ref()
            .map_err(|source| TelemetryError::CuptiLoad {
                library: library.to_path_buf(),
                source: Arc::clone(source),
            })?;
        if RECORDING.swap(true, Ordering::AcqRel) {
            return Err(TelemetryError::CuptiBusy);
        }
        let started = (|| {
            // SAFETY: the callbacks have the signatures CUPTI documents.
            api.check("cuptiActivityRegisterCallbacks", unsafe {
                (api.register_callbacks)(buffer_requested, buffer_completed)
            })?;
            if let Ok(mut collected) = COLLECTED.lock() {
                *collected = Collected::default();
            }
            DROPPED.store(0, Ordering::Relaxed);
            for kind in ENABLED_KINDS {
                // SAFETY: plain call with an activity kind.
                api.check("cuptiActivityEnable", unsafe {
                    (api.activity_enable)(kind)
                })?;
            }
            Ok::<(), TelemetryError>(())
        })();
        if let Err(err) = started {
            disable(api);
            RECORDING.store(false, Ordering::Release);
            return Err(err);
        }
        let cupti_now = api.timestamp().unwrap_or(0);
        let (realtime, monotonic) = host_clocks();
        Ok(Self {
            api,
            offset_from_realtime: i128::from(cupti_now) - i128::from(realtime),
            offset_from_monotonic: i128::from(cupti_now) - i128::from(monotonic),
        })
    }

    /// Flushes every buffer, stops recording and returns the records.
    pub fn finish(self) -> Recording {
        // SAFETY: plain call; delivers all pending buffers to the callback.
        let _ = unsafe { (self.api.flush_all)(FLUSH_FORCED) };
        let collected = COLLECTED
            .lock()
            .map(|mut collected| std::mem::take(&mut *collected))
            .unwrap_or_default();
        Recording {
            launches: collected.launches,
            kernels: collected.kernels,
            dropped: DROPPED.load(Ordering::Relaxed),
            offset_from_realtime: self.offset_from_realtime,
            offset_from_monotonic: self.offset_from_monotonic,
        }
        // `self` drops here and disables the kinds.
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        disable(self.api);
        RECORDING.store(false, Ordering::Release);
    }
}

fn disable(api: &Api) {
    for kind in ENABLED_KINDS {
        // SAFETY: plain call with an activity kind.
        let _ = unsafe { (api.activity_disable)(kind) };
    }
}

/// `(CLOCK_REALTIME, CLOCK_MONOTONIC)` now, in ns.
fn host_clocks() -> (u64, u64) {
    let realtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut spec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    let monotonic = if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut spec) } == 0 {
        u64::try_from(spec.tv_sec).unwrap_or(0) * 1_000_000_000
            + u64::try_from(spec.tv_nsec).unwrap_or(0)
    } else {
        0
    };
    (realtime, monotonic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<T: Copy>(record: &mut [u8], offset: usize, value: T) {
        let size = std::mem::size_of::<T>();
        assert!(offset + size <= record.len());
        // SAFETY: bounds checked above.
        unsafe {
            record
                .as_mut_ptr()
                .add(offset)
                .cast::<T>()
                .write_unaligned(value)
        };
    }

    /// Records laid out as CUPTI 13 writes them (offsets from
    /// `offsetof` on cupti_activity.h).
    #[test]
    fn decodes_api_kernel_and_memcpy_records() {
        let mut collected = Collected::default();

        let mut api = [0u8; 40];
        put(&mut api, 0, KIND_RUNTIME);
        put(&mut api, 8, 1_000u64);
        put(&mut api, 16, 1_200u64);
        put(&mut api, 28, 4242u32);
        put(&mut api, 32, 17u32);
        // SAFETY: a complete record.
        unsafe { decode(api.as_ptr(), &mut collected) };

        let name = c"volta_sgemm_128x64_nn";
        let mut kernel = [0u8; 160];
        put(&mut kernel, 0, KIND_CONCURRENT_KERNEL);
        put(&mut kernel, 16, 5_000u64);
        put(&mut kernel, 24, 7_500u64);
        put(&mut kernel, 92, 17u32);
        put(&mut kernel, 104, name.as_ptr());
        // SAFETY: a complete record whose name outlives the call.
        unsafe { decode(kernel.as_ptr(), &mut collected) };

        let mut memcpy = [0u8; 80];
        put(&mut memcpy, 0, KIND_MEMCPY);
        put(&mut memcpy, 4, 2u8);
        put(&mut memcpy, 16, 8_000u64);
        put(&mut memcpy, 24, 8_400u64);
        put(&mut memcpy, 44, 18u32);
        // SAFETY: a complete record.
        unsafe { decode(memcpy.as_ptr(), &mut collected) };

        assert_eq!(
            collected.launches,
            vec![LaunchCall {
                correlation_id: 17,
                thread_id: 4242,
                start_nanos: 1_000
            }]
        );
        assert_eq!(collected.kernels.len(), 2);
        assert_eq!(collected.kernels[0].name, "volta_sgemm_128x64_nn");
        assert_eq!(collected.kernels[0].correlation_id, 17);
        assert_eq!(
            collected.kernels[0].end_nanos - collected.kernels[0].start_nanos,
            2_500
        );
        assert_eq!(collected.kernels[1].name, "[memcpy DtoH]");
        assert_eq!(collected.kernels[1].correlation_id, 18);
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        // Only meaningful when no earlier test loaded CUPTI in this process.
        if API.get().is_some() {
            return;
        }
        let error = Recorder::start(Path::new("/nonexistent/libcupti.so.13"))
            .err()
            .expect("no CUPTI there");
        assert!(
            error.to_string().contains("CUPTI could not be loaded"),
            "{error}"
        );
    }
}
