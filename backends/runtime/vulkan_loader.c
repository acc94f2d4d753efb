/* vulkan_loader: run a model that fretsaw compiled for Vulkan (target="spirv") from C, no Python.
 *
 *   vulkan_loader DIR NAME
 *
 * reads what cm.save(DIR, NAME) wrote, and one raw float32 file per model input:
 *   DIR/NAME_plan.txt       the dispatch plan (below)
 *   DIR/NAME_kernelN.spv    SPIR-V 1.3, one GLCompute entry point each; its storage buffers at
 *                           descriptor set 0, bindings 0..n-1
 *   DIR/NAME_constants.bin  the weights, each constant buffer's bytes at the offset its line names
 *   DIR/NAME_input<i>.bin   input i, raw float32 (numpy: x.astype("float32").tofile(path))
 * runs the plan once on the first Vulkan 1.1 device with a compute queue, writes output i to
 * DIR/NAME_output<i>.bin (raw float32, C order), prints the device name and the run's
 * milliseconds (submit to fence), and exits non-zero with a message on any error.
 *
 * The plan, one item a line (ids are line order from 0 within each kind):
 *   buffer <bytes> <role> <offset in the constants file, or -1>   role: input|output|constant|temporary
 *   kernel <.spv file> <entry point> <bindings> <workgroup x> <y> <z>
 *   dispatch <kernel> <groups x> <y> <z> <count> <buffer>...      bound to bindings 0..count-1
 *   input <buffer>
 *   output <buffer> <rank> <dim>...
 * Dispatches run in order with a compute-to-compute barrier between consecutive ones, in one
 * command buffer recorded once. Every buffer is host-visible and host-coherent (device-local too
 * when the device has such memory: integrated GPUs, lavapipe) and stays mapped; temporaries start
 * zeroed. This is what backends/vulkan.py (Program) does from Python.
 *
 * Embedding it in an app (Android NDK or Linux): copy this file, compile it with
 * -DVULKAN_LOADER_NO_MAIN and link -lvulkan (Android: API level 28+ for Vulkan 1.1). Then
 *   Loader l = {0};
 *   if (loader_open(&l, dir, name) != 0) log(loader_error);
 *   memcpy(l.mapped[l.plan.inputs[i]], x, l.plan.buffers[l.plan.inputs[i]].bytes);   per input
 *   loader_run(&l, &ms);                                            as often as needed
 *   read 4 * l.plan.outputs[i].elements bytes of floats from l.mapped[l.plan.outputs[i].buffer]
 *   loader_close(&l);
 * One loader_run at a time per Loader. Build this example: cc -std=c99 -O2 vulkan_loader.c -lvulkan
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vulkan/vulkan.h>

#define FENCE_TIMEOUT_NS (600ull * 1000000000ull) /* a run taking 10 minutes is a hung shader */
#define MAX_RANK 16
#define MAX_BINDINGS 64 /* storage buffers a kernel may bind */

enum { ROLE_INPUT, ROLE_OUTPUT, ROLE_CONSTANT, ROLE_TEMPORARY };

typedef struct { uint64_t bytes; int role; int64_t offset; } PlanBuffer;
typedef struct { char *spv, *entry; uint32_t bindings, workgroup[3]; } PlanKernel;
typedef struct { uint32_t kernel, groups[3], count; uint32_t *buffers; } PlanDispatch;
typedef struct { uint32_t buffer, rank; uint64_t dims[MAX_RANK], elements; } PlanOutput;

typedef struct {
    char *text; /* the plan file; kernel file and entry names point into it */
    PlanBuffer *buffers;
    PlanKernel *kernels;
    PlanDispatch *dispatches;
    uint32_t *inputs;
    PlanOutput *outputs;
    uint32_t buffer_count, kernel_count, dispatch_count, input_count, output_count;
} Plan;

typedef struct {
    Plan plan;
    VkInstance instance;
    VkPhysicalDevice physical;
    VkPhysicalDeviceProperties properties;
    VkDevice device;
    uint32_t family;
    VkQueue queue;
    VkBuffer *buffers;
    VkDeviceMemory *memories;
    void **mapped; /* each buffer's memory, mapped for good */
    VkShaderModule *modules;
    VkDescriptorSetLayout *set_layouts;
    VkPipelineLayout *layouts;
    VkPipeline *pipelines;
    VkDescriptorPool pool;
    VkDescriptorSet *sets; /* one per dispatch */
    VkCommandPool command_pool;
    VkCommandBuffer commands;
    VkFence fence;
} Loader;

char loader_error[1024]; /* why the last call failed */

static int fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(loader_error, sizeof loader_error, format, args);
    va_end(args);
    return -1;
}

static const char *vk_result_name(VkResult r)
{
    switch (r) {
#define NAME(x) case x: return #x;
    NAME(VK_SUCCESS) NAME(VK_NOT_READY) NAME(VK_TIMEOUT) NAME(VK_INCOMPLETE)
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY) NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    NAME(VK_ERROR_INITIALIZATION_FAILED) NAME(VK_ERROR_DEVICE_LOST) NAME(VK_ERROR_MEMORY_MAP_FAILED)
    NAME(VK_ERROR_LAYER_NOT_PRESENT) NAME(VK_ERROR_EXTENSION_NOT_PRESENT) NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER) NAME(VK_ERROR_TOO_MANY_OBJECTS) NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
    NAME(VK_ERROR_FRAGMENTED_POOL) NAME(VK_ERROR_UNKNOWN) NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
    NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE) NAME(VK_ERROR_INVALID_SHADER_NV)
#undef NAME
    default: return "an unnamed VkResult";
    }
}

/* Return from the calling function with loader_error "<what>: vkCall failed: VK_ERROR_..." unless
 * `call` succeeds; `...` is a printf format and its arguments saying what was being done. */
#define VK_TRY(call, ...) do { \
        VkResult r_ = (call); \
        if (r_ != VK_SUCCESS) return vk_fail(r_, #call, __VA_ARGS__); \
    } while (0)

static int vk_fail(VkResult r, const char *call, const char *format, ...)
{
    char what[512];
    va_list args;
    va_start(args, format);
    vsnprintf(what, sizeof what, format, args);
    va_end(args);
    size_t name = strcspn(call, "("); /* the function's name, not its arguments */
    return fail("%s: %.*s failed: %s (%d)", what, (int)name, call, vk_result_name(r), (int)r);
}

static int path_of(char *out, size_t size, const char *dir, const char *name, const char *suffix)
{
    int n = snprintf(out, size, "%s/%s%s", dir, name, suffix);
    return n < 0 || (size_t)n >= size ? fail("path too long: %s/%s%s", dir, name, suffix) : 0;
}

/* The whole file, NUL-terminated (for text), in memory from malloc; NULL on error. */
static char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
        data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) == (size_t)n) {
        data[n] = '\0';
        *size = (size_t)n;
    } else {
        fail("cannot read %s", path);
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

/* ---- the plan ---------------------------------------------------------------------------- */

/* The next space-separated word of the line at *at (NUL-terminated in place), or NULL. */
static char *token(char **at)
{
    char *s = *at + strspn(*at, " \t\r");
    if (!*s)
        return NULL;
    char *end = s + strcspn(s, " \t\r");
    *at = *end ? end + 1 : end;
    *end = '\0';
    return s;
}

/* The next word as an integer in [lo, hi]; sets *bad when it is missing or is not one. */
static int64_t integer(char **at, int64_t lo, int64_t hi, int *bad)
{
    char *word = token(at), *end;
    if (!word) {
        *bad = 1;
        return 0;
    }
    errno = 0;
    long long v = strtoll(word, &end, 10);
    if (errno || *end || v < lo || v > hi)
        *bad = 1;
    return v;
}

static int parse_line(Plan *p, char *at, const char *path, int line)
{
    static const char *roles[] = {"input", "output", "constant", "temporary"};
    char *word = token(&at);
    int bad = 0;
    if (!word)
        return 0;
    if (!strcmp(word, "buffer")) {
        PlanBuffer *b = &p->buffers[p->buffer_count++];
        b->bytes = (uint64_t)integer(&at, 0, INT64_MAX, &bad);
        const char *role = token(&at);
        for (b->role = 0; role && b->role < 4 && strcmp(role, roles[b->role]); b->role++) {}
        b->offset = integer(&at, -1, INT64_MAX, &bad);
        if (bad || b->role == 4 || token(&at))
            return fail("%s:%d: expected 'buffer <bytes> input|output|constant|temporary <offset>'", path, line);
    } else if (!strcmp(word, "kernel")) {
        PlanKernel *k = &p->kernels[p->kernel_count++];
        k->spv = token(&at);
        k->entry = token(&at);
        k->bindings = (uint32_t)integer(&at, 0, MAX_BINDINGS, &bad);
        for (int i = 0; i < 3; i++)
            k->workgroup[i] = (uint32_t)integer(&at, 1, UINT32_MAX, &bad);
        if (bad || !k->entry || token(&at))
            return fail("%s:%d: expected 'kernel <file> <entry> <bindings <= %d> <x> <y> <z>'", path, line,
                        MAX_BINDINGS);
    } else if (!strcmp(word, "dispatch")) {
        PlanDispatch *d = &p->dispatches[p->dispatch_count++];
        d->kernel = (uint32_t)integer(&at, 0, UINT32_MAX, &bad);
        for (int i = 0; i < 3; i++)
            d->groups[i] = (uint32_t)integer(&at, 0, UINT32_MAX, &bad);
        d->count = (uint32_t)integer(&at, 0, MAX_BINDINGS, &bad);
        d->buffers = calloc(d->count + 1, sizeof *d->buffers);
        if (!d->buffers)
            return fail("out of memory");
        for (uint32_t i = 0; i < d->count; i++)
            d->buffers[i] = (uint32_t)integer(&at, 0, UINT32_MAX, &bad);
        if (bad || token(&at))
            return fail("%s:%d: expected 'dispatch <kernel> <x> <y> <z> <count> <buffer>...'", path, line);
    } else if (!strcmp(word, "input")) {
        p->inputs[p->input_count++] = (uint32_t)integer(&at, 0, UINT32_MAX, &bad);
        if (bad || token(&at))
            return fail("%s:%d: expected 'input <buffer>'", path, line);
    } else if (!strcmp(word, "output")) {
        PlanOutput *o = &p->outputs[p->output_count++];
        o->buffer = (uint32_t)integer(&at, 0, UINT32_MAX, &bad);
        o->rank = (uint32_t)integer(&at, 0, MAX_RANK, &bad);
        o->elements = 1;
        for (uint32_t i = 0; i < o->rank && !bad; i++) {
            o->dims[i] = (uint64_t)integer(&at, 0, INT32_MAX, &bad);
            o->elements *= o->dims[i];
        }
        if (bad || token(&at))
            return fail("%s:%d: expected 'output <buffer> <rank> <dim>...' (rank <= %d)", path, line, MAX_RANK);
    } else {
        return fail("%s:%d: unknown line '%s' (buffer, kernel, dispatch, input or output)", path, line, word);
    }
    return 0;
}

/* Ids in range, bindings matching, constants placed, outputs fitting their buffers. */
static int check_plan(const Plan *p, const char *path)
{
    for (uint32_t i = 0; i < p->buffer_count; i++) {
        const PlanBuffer *b = &p->buffers[i];
        if ((b->role == ROLE_CONSTANT) != (b->offset >= 0))
            return fail("%s: buffer %u: a constant has an offset >= 0, any other buffer -1", path, i);
    }
    for (uint32_t i = 0; i < p->dispatch_count; i++) {
        const PlanDispatch *d = &p->dispatches[i];
        if (d->kernel >= p->kernel_count)
            return fail("%s: dispatch %u: no kernel %u (the plan has %u)", path, i, d->kernel, p->kernel_count);
        if (d->count != p->kernels[d->kernel].bindings)
            return fail("%s: dispatch %u binds %u buffers, kernel %u has %u bindings", path, i, d->count,
                        d->kernel, p->kernels[d->kernel].bindings);
        for (uint32_t j = 0; j < d->count; j++)
            if (d->buffers[j] >= p->buffer_count)
                return fail("%s: dispatch %u: no buffer %u (the plan has %u)", path, i, d->buffers[j],
                            p->buffer_count);
    }
    for (uint32_t i = 0; i < p->input_count; i++)
        if (p->inputs[i] >= p->buffer_count)
            return fail("%s: input %u: no buffer %u", path, i, p->inputs[i]);
    for (uint32_t i = 0; i < p->output_count; i++) {
        const PlanOutput *o = &p->outputs[i];
        if (o->buffer >= p->buffer_count)
            return fail("%s: output %u: no buffer %u", path, i, o->buffer);
        if (4 * o->elements > p->buffers[o->buffer].bytes)
            return fail("%s: output %u: buffer %u of %llu bytes cannot hold %llu floats", path, i, o->buffer,
                        (unsigned long long)p->buffers[o->buffer].bytes, (unsigned long long)o->elements);
    }
    return 0;
}

/* Read the plan at `path`: count each kind of line, allocate, then parse line by line. */
static int load_plan(Plan *p, const char *path)
{
    size_t size;
    if (!(p->text = read_file(path, &size)))
        return -1;
    uint32_t counts[5] = {0};
    static const char *kinds[] = {"buffer ", "kernel ", "dispatch ", "input ", "output "};
    for (const char *line = p->text; line;) {
        for (int k = 0; k < 5; k++)
            counts[k] += !strncmp(line, kinds[k], strlen(kinds[k]));
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    p->buffers = calloc(counts[0] + 1, sizeof *p->buffers);
    p->kernels = calloc(counts[1] + 1, sizeof *p->kernels);
    p->dispatches = calloc(counts[2] + 1, sizeof *p->dispatches);
    p->inputs = calloc(counts[3] + 1, sizeof *p->inputs);
    p->outputs = calloc(counts[4] + 1, sizeof *p->outputs);
    if (!p->buffers || !p->kernels || !p->dispatches || !p->inputs || !p->outputs)
        return fail("out of memory reading %s", path);
    char *line = p->text;
    for (int number = 1; line; number++) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (parse_line(p, line, path, number) != 0)
            return -1;
        line = next;
    }
    return check_plan(p, path);
}

/* ---- the device ------------------------------------------------------------------------- */

/* The first physical device with Vulkan 1.1 (for SPIR-V 1.3) and a compute queue family. */
static int create_device(Loader *l)
{
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "fretsaw",
                             .pEngineName = "fretsaw", .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo instance = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VK_TRY(vkCreateInstance(&instance, NULL, &l->instance),
           "creating a Vulkan 1.1 instance (is a Vulkan driver installed? on Debian: mesa-vulkan-drivers)");
    uint32_t count = 0;
    VK_TRY(vkEnumeratePhysicalDevices(l->instance, &count, NULL), "listing Vulkan devices");
    VkPhysicalDevice physicals[16];
    count = count < 16 ? count : 16;
    VkResult r = vkEnumeratePhysicalDevices(l->instance, &count, physicals);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return vk_fail(r, "vkEnumeratePhysicalDevices", "listing Vulkan devices");
    for (uint32_t i = 0; i < count && !l->physical; i++) {
        vkGetPhysicalDeviceProperties(physicals[i], &l->properties);
        if (l->properties.apiVersion < VK_API_VERSION_1_1)
            continue;
        VkQueueFamilyProperties families[32];
        uint32_t n = 32;
        vkGetPhysicalDeviceQueueFamilyProperties(physicals[i], &n, families);
        for (l->family = 0; l->family < n && !(families[l->family].queueFlags & VK_QUEUE_COMPUTE_BIT);)
            l->family++;
        if (l->family < n)
            l->physical = physicals[i];
    }
    if (!l->physical)
        return fail("no Vulkan device with Vulkan 1.1 and a compute queue among %u device(s) "
                    "(on Debian, mesa-vulkan-drivers has lavapipe, a CPU Vulkan device)", count);
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                     .queueFamilyIndex = l->family, .queueCount = 1,
                                     .pQueuePriorities = &priority};
    VkDeviceCreateInfo device = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                                 .queueCreateInfoCount = 1, .pQueueCreateInfos = &queue};
    VK_TRY(vkCreateDevice(l->physical, &device, NULL, &l->device), "creating a device on %s",
           l->properties.deviceName);
    vkGetDeviceQueue(l->device, l->family, 0, &l->queue);
    return 0;
}

/* Device-local + host-visible + host-coherent memory when there is some, else host-visible + coherent. */
static int memory_type(const Loader *l, uint32_t type_bits, uint32_t *index)
{
    VkPhysicalDeviceMemoryProperties memory;
    vkGetPhysicalDeviceMemoryProperties(l->physical, &memory);
    VkMemoryPropertyFlags visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    VkMemoryPropertyFlags wanted[2] = {visible | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, visible};
    for (int w = 0; w < 2; w++)
        for (*index = 0; *index < memory.memoryTypeCount; ++*index)
            if (type_bits >> *index & 1 && (memory.memoryTypes[*index].propertyFlags & wanted[w]) == wanted[w])
                return 0;
    return fail("%s has no host-visible, host-coherent memory for a storage buffer", l->properties.deviceName);
}

/* Every buffer (whole 32-bit words, at least one), mapped for good and zeroed. */
static int create_buffers(Loader *l)
{
    uint32_t n = l->plan.buffer_count;
    l->buffers = calloc(n + 1, sizeof *l->buffers);
    l->memories = calloc(n + 1, sizeof *l->memories);
    l->mapped = calloc(n + 1, sizeof *l->mapped);
    if (!l->buffers || !l->memories || !l->mapped)
        return fail("out of memory");
    for (uint32_t b = 0; b < n; b++) {
        VkDeviceSize size = l->plan.buffers[b].bytes ? (l->plan.buffers[b].bytes + 3) / 4 * 4 : 4;
        if (size > l->properties.limits.maxStorageBufferRange)
            return fail("buffer %u is %llu bytes, more than the %u bytes (maxStorageBufferRange) of %s", b,
                        (unsigned long long)size, l->properties.limits.maxStorageBufferRange,
                        l->properties.deviceName);
        VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                                   .size = size, .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                                   .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
        VK_TRY(vkCreateBuffer(l->device, &info, NULL, &l->buffers[b]), "buffer %u", b);
        VkMemoryRequirements need;
        vkGetBufferMemoryRequirements(l->device, l->buffers[b], &need);
        VkMemoryAllocateInfo allocate = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                         .allocationSize = need.size};
        if (memory_type(l, need.memoryTypeBits, &allocate.memoryTypeIndex) != 0)
            return -1;
        VK_TRY(vkAllocateMemory(l->device, &allocate, NULL, &l->memories[b]), "buffer %u (%llu bytes)", b,
               (unsigned long long)size);
        VK_TRY(vkBindBufferMemory(l->device, l->buffers[b], l->memories[b], 0), "buffer %u", b);
        VK_TRY(vkMapMemory(l->device, l->memories[b], 0, size, 0, &l->mapped[b]), "buffer %u", b);
        memset(l->mapped[b], 0, size);
    }
    return 0;
}

/* Copy each constant buffer's bytes from the constants file, once. */
static int upload_constants(Loader *l, const char *path)
{
    size_t size = 0;
    char *blob = read_file(path, &size);
    if (!blob)
        return -1;
    for (uint32_t b = 0; b < l->plan.buffer_count; b++) {
        const PlanBuffer *buffer = &l->plan.buffers[b];
        if (buffer->role != ROLE_CONSTANT)
            continue;
        if ((uint64_t)buffer->offset + buffer->bytes > size) {
            free(blob);
            return fail("%s: buffer %u wants bytes %lld..%llu, the file has %zu", path, b,
                        (long long)buffer->offset, (unsigned long long)(buffer->offset + buffer->bytes), size);
        }
        memcpy(l->mapped[b], blob + buffer->offset, buffer->bytes);
    }
    free(blob);
    return 0;
}

/* Per kernel: its shader module, a set layout of `bindings` storage buffers, a pipeline. */
static int create_pipeline(Loader *l, uint32_t k, const char *dir)
{
    const PlanKernel *kernel = &l->plan.kernels[k];
    char path[4096];
    size_t size;
    if (path_of(path, sizeof path, dir, kernel->spv, "") != 0)
        return -1;
    char *code = read_file(path, &size);
    if (!code)
        return -1;
    uint32_t magic = 0;
    memcpy(&magic, code, size < 4 ? size : 4);
    if (size < 20 || size % 4 || magic != 0x07230203u) {
        free(code);
        return fail("%s is not a SPIR-V module (%zu bytes)", path, size);
    }
    /* malloc's memory is aligned for any type, uint32_t words included */
    VkShaderModuleCreateInfo module = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = size,
                                       .pCode = (const uint32_t *)code};
    VkResult r = vkCreateShaderModule(l->device, &module, NULL, &l->modules[k]);
    free(code);
    if (r != VK_SUCCESS)
        return vk_fail(r, "vkCreateShaderModule", "kernel %u (%s)", k, path);

    VkDescriptorSetLayoutBinding bindings[MAX_BINDINGS];
    for (uint32_t i = 0; i < kernel->bindings; i++) {
        VkDescriptorSetLayoutBinding b = {.binding = i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        bindings[i] = b;
    }
    VkDescriptorSetLayoutCreateInfo set = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = kernel->bindings, .pBindings = bindings};
    VK_TRY(vkCreateDescriptorSetLayout(l->device, &set, NULL, &l->set_layouts[k]), "kernel %u (%s)", k, path);
    VkPipelineLayoutCreateInfo layout = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                         .setLayoutCount = 1, .pSetLayouts = &l->set_layouts[k]};
    VK_TRY(vkCreatePipelineLayout(l->device, &layout, NULL, &l->layouts[k]), "kernel %u (%s)", k, path);
    VkPipelineShaderStageCreateInfo stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                             .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = l->modules[k],
                                             .pName = kernel->entry};
    VkComputePipelineCreateInfo pipeline = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                            .stage = stage, .layout = l->layouts[k]};
    VK_TRY(vkCreateComputePipelines(l->device, VK_NULL_HANDLE, 1, &pipeline, NULL, &l->pipelines[k]),
           "kernel %u (%s, entry point '%s')", k, path, kernel->entry);
    return 0;
}

static int create_pipelines(Loader *l, const char *dir)
{
    uint32_t n = l->plan.kernel_count;
    l->modules = calloc(n + 1, sizeof *l->modules);
    l->set_layouts = calloc(n + 1, sizeof *l->set_layouts);
    l->layouts = calloc(n + 1, sizeof *l->layouts);
    l->pipelines = calloc(n + 1, sizeof *l->pipelines);
    if (!l->modules || !l->set_layouts || !l->layouts || !l->pipelines)
        return fail("out of memory");
    for (uint32_t k = 0; k < n; k++)
        if (create_pipeline(l, k, dir) != 0)
            return -1;
    return 0;
}

/* One descriptor set per dispatch, its buffers at bindings 0..count-1. */
static int create_descriptor_sets(Loader *l)
{
    const Plan *p = &l->plan;
    uint32_t total = 0;
    for (uint32_t i = 0; i < p->dispatch_count; i++)
        total += p->dispatches[i].count;
    if (!p->dispatch_count)
        return 0;
    VkDescriptorPoolSize sizes = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = total ? total : 1};
    VkDescriptorPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                       .maxSets = p->dispatch_count, .poolSizeCount = 1, .pPoolSizes = &sizes};
    VK_TRY(vkCreateDescriptorPool(l->device, &pool, NULL, &l->pool), "the descriptor pool");
    VkDescriptorSetLayout *layouts = calloc(p->dispatch_count, sizeof *layouts);
    l->sets = calloc(p->dispatch_count, sizeof *l->sets);
    if (!layouts || !l->sets) {
        free(layouts);
        return fail("out of memory");
    }
    for (uint32_t i = 0; i < p->dispatch_count; i++)
        layouts[i] = l->set_layouts[p->dispatches[i].kernel];
    VkDescriptorSetAllocateInfo allocate = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                            .descriptorPool = l->pool, .descriptorSetCount = p->dispatch_count,
                                            .pSetLayouts = layouts};
    VkResult r = vkAllocateDescriptorSets(l->device, &allocate, l->sets);
    free(layouts);
    if (r != VK_SUCCESS)
        return vk_fail(r, "vkAllocateDescriptorSets", "%u descriptor sets", p->dispatch_count);
    for (uint32_t i = 0; i < p->dispatch_count; i++) {
        const PlanDispatch *d = &p->dispatches[i];
        VkDescriptorBufferInfo infos[MAX_BINDINGS];
        for (uint32_t j = 0; j < d->count; j++) {
            VkDescriptorBufferInfo info = {.buffer = l->buffers[d->buffers[j]], .range = VK_WHOLE_SIZE};
            infos[j] = info;
        }
        /* one write of `count` descriptors runs on through the consecutive bindings 0..count-1 */
        VkWriteDescriptorSet write = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = l->sets[i], .descriptorCount = d->count,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = infos};
        if (d->count)
            vkUpdateDescriptorSets(l->device, 1, &write, 0, NULL);
    }
    return 0;
}

/* One command buffer: the dispatches in order, a compute->compute barrier between consecutive
 * ones, and a compute->host barrier at the end so the mapped outputs are readable. */
static int record(Loader *l)
{
    const Plan *p = &l->plan;
    VkCommandPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .queueFamilyIndex = l->family};
    VK_TRY(vkCreateCommandPool(l->device, &pool, NULL, &l->command_pool), "the command pool");
    VkCommandBufferAllocateInfo allocate = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                            .commandPool = l->command_pool,
                                            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VK_TRY(vkAllocateCommandBuffers(l->device, &allocate, &l->commands), "the command buffer");
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VK_TRY(vkBeginCommandBuffer(l->commands, &begin), "recording");
    VkMemoryBarrier between = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    VkPipelineStageFlags compute = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    for (uint32_t i = 0; i < p->dispatch_count; i++) {
        const PlanDispatch *d = &p->dispatches[i];
        if (i)
            vkCmdPipelineBarrier(l->commands, compute, compute, 0, 1, &between, 0, NULL, 0, NULL);
        vkCmdBindPipeline(l->commands, VK_PIPELINE_BIND_POINT_COMPUTE, l->pipelines[d->kernel]);
        vkCmdBindDescriptorSets(l->commands, VK_PIPELINE_BIND_POINT_COMPUTE, l->layouts[d->kernel], 0, 1,
                                &l->sets[i], 0, NULL);
        vkCmdDispatch(l->commands, d->groups[0], d->groups[1], d->groups[2]);
    }
    VkMemoryBarrier to_host = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(l->commands, compute, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, NULL, 0, NULL);
    VK_TRY(vkEndCommandBuffer(l->commands), "recording");
    VkFenceCreateInfo fence = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_TRY(vkCreateFence(l->device, &fence, NULL, &l->fence), "the fence");
    return 0;
}

/* ---- the API an app calls --------------------------------------------------------------- */

/* Everything up to a recorded command buffer: DIR/NAME_plan.txt, its kernels, the constants. */
int loader_open(Loader *l, const char *dir, const char *name)
{
    char path[4096];
    if (path_of(path, sizeof path, dir, name, "_plan.txt") != 0 || load_plan(&l->plan, path) != 0)
        return -1;
    if (create_device(l) != 0 || create_buffers(l) != 0)
        return -1;
    if (path_of(path, sizeof path, dir, name, "_constants.bin") != 0 || upload_constants(l, path) != 0)
        return -1;
    if (create_pipelines(l, dir) != 0 || create_descriptor_sets(l) != 0)
        return -1;
    return record(l);
}

/* Submit the recorded dispatches on what the input buffers hold and wait; *ms the wall time. */
int loader_run(Loader *l, double *ms)
{
    struct timespec start, end;
    VkSubmitInfo submit = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                           .commandBufferCount = 1, .pCommandBuffers = &l->commands};
    VK_TRY(vkResetFences(l->device, 1, &l->fence), "running on %s", l->properties.deviceName);
    clock_gettime(CLOCK_MONOTONIC, &start);
    VK_TRY(vkQueueSubmit(l->queue, 1, &submit, l->fence), "running on %s", l->properties.deviceName);
    VK_TRY(vkWaitForFences(l->device, 1, &l->fence, VK_TRUE, FENCE_TIMEOUT_NS), "running on %s",
           l->properties.deviceName);
    clock_gettime(CLOCK_MONOTONIC, &end);
    *ms = (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
    return 0;
}

/* Destroy whatever loader_open created (all of it, or as far as it got). */
void loader_close(Loader *l)
{
    Plan *p = &l->plan;
    if (l->device) {
        vkDeviceWaitIdle(l->device);
        if (l->fence) vkDestroyFence(l->device, l->fence, NULL);
        if (l->command_pool) vkDestroyCommandPool(l->device, l->command_pool, NULL);
        if (l->pool) vkDestroyDescriptorPool(l->device, l->pool, NULL);
        for (uint32_t k = 0; l->pipelines && k < p->kernel_count; k++) {
            if (l->pipelines[k]) vkDestroyPipeline(l->device, l->pipelines[k], NULL);
            if (l->layouts[k]) vkDestroyPipelineLayout(l->device, l->layouts[k], NULL);
            if (l->set_layouts[k]) vkDestroyDescriptorSetLayout(l->device, l->set_layouts[k], NULL);
            if (l->modules[k]) vkDestroyShaderModule(l->device, l->modules[k], NULL);
        }
        for (uint32_t b = 0; l->buffers && b < p->buffer_count; b++) {
            if (l->buffers[b]) vkDestroyBuffer(l->device, l->buffers[b], NULL);
            if (l->memories[b]) vkFreeMemory(l->device, l->memories[b], NULL); /* unmaps it too */
        }
        vkDestroyDevice(l->device, NULL);
    }
    if (l->instance)
        vkDestroyInstance(l->instance, NULL);
    for (uint32_t i = 0; p->dispatches && i < p->dispatch_count; i++)
        free(p->dispatches[i].buffers);
    free(p->text); free(p->buffers); free(p->kernels); free(p->dispatches); free(p->inputs); free(p->outputs);
    free(l->buffers); free(l->memories); free(l->mapped); free(l->modules); free(l->set_layouts);
    free(l->layouts); free(l->pipelines); free(l->sets);
    memset(l, 0, sizeof *l);
}

#ifndef VULKAN_LOADER_NO_MAIN

/* DIR/NAME_input<i>.bin into input buffer i: exactly the buffer's bytes. */
static int read_inputs(Loader *l, const char *dir, const char *name)
{
    for (uint32_t i = 0; i < l->plan.input_count; i++) {
        char suffix[64], path[4096];
        size_t size;
        uint32_t b = l->plan.inputs[i];
        snprintf(suffix, sizeof suffix, "_input%u.bin", i);
        if (path_of(path, sizeof path, dir, name, suffix) != 0)
            return -1;
        char *data = read_file(path, &size);
        if (!data)
            return -1;
        if (size != l->plan.buffers[b].bytes) {
            free(data);
            return fail("%s has %zu bytes; input %u (buffer %u) takes %llu", path, size, i, b,
                        (unsigned long long)l->plan.buffers[b].bytes);
        }
        memcpy(l->mapped[b], data, size);
        free(data);
    }
    return 0;
}

/* Output i's floats to DIR/NAME_output<i>.bin. */
static int write_outputs(Loader *l, const char *dir, const char *name)
{
    for (uint32_t i = 0; i < l->plan.output_count; i++) {
        const PlanOutput *o = &l->plan.outputs[i];
        char suffix[64], path[4096];
        snprintf(suffix, sizeof suffix, "_output%u.bin", i);
        if (path_of(path, sizeof path, dir, name, suffix) != 0)
            return -1;
        FILE *f = fopen(path, "wb");
        if (!f)
            return fail("cannot create %s: %s", path, strerror(errno));
        size_t wrote = fwrite(l->mapped[o->buffer], 4, o->elements, f);
        if (fclose(f) != 0 || wrote != o->elements)
            return fail("cannot write %s", path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR NAME\n  runs DIR/NAME_plan.txt on DIR/NAME_input<i>.bin (raw float32), "
                        "writes DIR/NAME_output<i>.bin\n", argv[0]);
        return 2;
    }
    Loader l;
    memset(&l, 0, sizeof l);
    double ms = 0;
    int status = loader_open(&l, argv[1], argv[2]);
    if (status == 0)
        status = read_inputs(&l, argv[1], argv[2]);
    if (status == 0)
        status = loader_run(&l, &ms);
    if (status == 0)
        status = write_outputs(&l, argv[1], argv[2]);
    if (status == 0)
        printf("device: %s\nrun: %.3f ms\n", l.properties.deviceName, ms);
    else
        fprintf(stderr, "vulkan_loader: %s\n", loader_error);
    loader_close(&l);
    return status == 0 ? 0 : 1;
}

#endif
